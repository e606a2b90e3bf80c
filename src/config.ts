import fs from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { findModel, MODELS, SHIPPED_DEFAULT_MODELS } from './core/catalog.js';
import { parsePriceTable, type PriceTable } from './core/prices.js';
import { createAddressPolicy } from './media/address-policy.js';

/**
 * The one place that reads `process.env`. Everything else receives the frozen `Config`.
 * Names follow design.md §6; `.env.example` documents each one with its default.
 */

const emptyToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const optionalString = z.preprocess(emptyToUndefined, z.string().optional());
const optionalUrl = z.preprocess(emptyToUndefined, z.url({ protocol: /^https?$/ }).optional());
const url = (fallback: string) => z.preprocess(emptyToUndefined, z.url({ protocol: /^https?$/ }).default(fallback));
const urlList = (fallback: readonly string[]) =>
  z.preprocess(
    (v) =>
      typeof v === 'string' && v.trim() !== ''
        ? v
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : undefined,
    z
      .array(z.url({ protocol: /^https?$/ }))
      .min(1)
      .default([...fallback]),
  );
const int = (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(emptyToUndefined, z.coerce.number().int().min(min).max(max).default(fallback));
const optionalNumber = z.preprocess(emptyToUndefined, z.coerce.number().positive().optional());
const bool = (fallback: boolean) =>
  z.preprocess(
    emptyToUndefined,
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'])
      .default(fallback ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1' || v === 'yes'),
  );
const list = z.preprocess(
  (v) =>
    typeof v === 'string'
      ? v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : [],
  z.array(z.string()),
);

const arkModelId = (fallback: string) =>
  z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^[\w.-]{1,100}$/, 'expected an Ark model or endpoint id')
      .default(fallback),
  );

const ownerId = z.string().regex(/^(discord|telegram|console):[\w-]+$/, 'expected platform:id, e.g. discord:1234');
const alertChat = z.preprocess(
  (v) => (typeof v === 'string' ? v.trim() || undefined : v),
  z
    .string()
    .regex(
      /^(discord:\d{1,20}|telegram:-?\d{1,20}|console:[\w-]{1,64})$/,
      'expected discord:<channel id> or telegram:<chat id> (digits; a group id starts with -)',
    )
    .optional(),
);

/** A credit pack on sale: `credits` for `stars` Telegram Stars. */
export interface CreditPack {
  credits: number;
  stars: number;
}

/**
 * Telegram Stars packs, `credits:stars` comma-separated (`100:50,500:225`). A pack is known by its credits, so two
 * packs may not have the same number of credits. Stars are whole (XTR has no subunits), at most 10,000 per invoice.
 */
const creditPacks = z.preprocess(
  (v) =>
    typeof v === 'string'
      ? v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : [],
  z
    .array(
      z
        .string()
        .regex(/^\d{1,9}:\d{1,6}$/, 'each pack must be credits:stars in whole numbers, e.g. 100:50,500:225')
        .transform((entry) => {
          const [credits, stars] = entry.split(':').map(Number) as [number, number];
          return { credits, stars };
        })
        .refine((p) => p.credits >= 1, 'a pack must give at least 1 credit')
        .refine((p) => p.stars >= 1 && p.stars <= 10_000, 'a pack must cost from 1 to 10000 Stars'),
    )
    .refine(
      (packs) => new Set(packs.map((p) => p.credits)).size === packs.length,
      'two packs give the same number of credits: each pack needs its own',
    ),
);

/** A Discord one-time consumable SKU on sale: buying it gives `credits`. Its price is set in the Developer Portal. */
export interface DiscordSkuPack {
  skuId: string;
  credits: number;
}

/**
 * Discord premium packs, `<sku id>:<credits>` comma-separated (`1234567890123456789:100`). A pack is known by its
 * SKU; two SKUs may give the same credits (Discord prices each SKU itself).
 */
const discordSkuCredits = z.preprocess(
  (v) =>
    typeof v === 'string'
      ? v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : [],
  z
    .array(
      z
        .string()
        .regex(
          /^\d{17,20}:\d{1,9}$/,
          'each pack must be <sku id>:<credits>, the SKU id from the Developer Portal (17-20 digits), e.g. 1234567890123456789:100',
        )
        .transform((entry) => {
          const [skuId, credits] = entry.split(':') as [string, string];
          return { skuId, credits: Number(credits) };
        })
        .refine((p) => p.credits >= 1, 'a pack must give at least 1 credit'),
    )
    .refine(
      (packs) => new Set(packs.map((p) => p.skuId)).size === packs.length,
      'a SKU is listed twice: each SKU gives one number of credits',
    )
    // One message shows at most 25 buttons (5 rows of 5).
    .refine((packs) => packs.length <= 25, 'at most 25 packs: /buy shows one button each, 25 at most'),
);

const schema = z.object({
  DATA_DIR: z.preprocess(emptyToUndefined, z.string().default('./data')),
  DATABASE_URL: z.preprocess(emptyToUndefined, z.url({ protocol: /^postgres(ql)?$/ }).optional()),
  LOG_LEVEL: z.preprocess(
    emptyToUndefined,
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ),

  DISCORD_TOKEN: optionalString,
  DISCORD_API_BASE: url('https://discord.com/api'),
  DISCORD_GUILD_IDS: list,
  DISCORD_SHARD_IDS: z.preprocess(
    (v) =>
      typeof v === 'string'
        ? v
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : [],
    z.array(
      z
        .string()
        .regex(/^\d{1,5}$/, 'expected shard ids, e.g. 0,1')
        .transform(Number),
    ),
  ),
  DISCORD_SHARD_COUNT: z.preprocess(emptyToUndefined, z.coerce.number().int().min(1).max(100_000).optional()),
  TELEGRAM_TOKEN: optionalString,
  TELEGRAM_API_ROOT: url('https://api.telegram.org').refine((v) => !v.endsWith('/'), 'must not end with /'),
  TELEGRAM_WEBHOOK_SECRET: optionalString,
  TELEGRAM_POLLING: bool(true),
  TELEGRAM_MAX_CONCURRENT_UPDATES: int(64, 2, 10_000),
  CREDIT_PACKS_TELEGRAM: creditPacks,
  /** What /paysupport says; unset: a default (translated) that points to the owners. */
  PAYSUPPORT_TEXT: optionalString,
  /** Discord premium purchases: one-time consumable SKUs and the credits each gives (issue 15). */
  DISCORD_SKU_CREDITS: discordSkuCredits,

  FAL_KEY: optionalString,
  FAL_QUEUE_URL: url('https://queue.fal.run'),
  // A comma-separated list, tried in order: fal's docs moved the JWKS from rest.alpha.fal.ai to rest.fal.ai.
  FAL_JWKS_URL: urlList([
    'https://rest.fal.ai/.well-known/jwks.json',
    'https://rest.alpha.fal.ai/.well-known/jwks.json',
  ]),
  FAL_USER_ID: optionalString,
  ARK_API_KEY: optionalString,
  ARK_BASE_URL: url('https://ark.cn-beijing.volces.com/api/v3'),
  // One Ark model (or endpoint) id per catalog model (ARK_MODEL_SETTINGS); ARK_MODEL_ID keeps its old meaning.
  ARK_MODEL_ID: arkModelId('doubao-seedance-1-0-pro-250528'),
  ARK_SEEDANCE_1_5_PRO_MODEL_ID: arkModelId('doubao-seedance-1-5-pro-251215'),
  ARK_SEEDANCE_2_MODEL_ID: arkModelId('doubao-seedance-2-0-260128'),
  ARK_SEEDANCE_2_FAST_MODEL_ID: arkModelId('doubao-seedance-2-0-fast-260128'),
  // Unset: Ark's own default tier. `flex` reaches only the models that offer it.
  ARK_SERVICE_TIER: z.preprocess(emptyToUndefined, z.enum(['default', 'flex']).optional()),
  KIE_API_KEY: optionalString,
  KIE_BASE_URL: url('https://api.kie.ai'),
  KIE_WEBHOOK_HMAC_KEY: optionalString,

  PUBLIC_URL: optionalUrl,
  HTTP_PORT: int(8080, 0, 65535),
  HTTP_HOST: z.preprocess(emptyToUndefined, z.string().default('127.0.0.1')),
  METRICS_TOKEN: z.preprocess(emptyToUndefined, z.string().min(16, 'use at least 16 characters').optional()),
  METRICS_PORT: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0).max(65535).optional()),

  STORAGE: z.preprocess(emptyToUndefined, z.enum(['local', 's3']).default('local')),
  S3_ENDPOINT: optionalUrl,
  S3_BUCKET: optionalString,
  S3_REGION: z.preprocess(emptyToUndefined, z.string().default('us-east-1')),
  S3_FORCE_PATH_STYLE: bool(false),
  S3_ACCESS_KEY_ID: optionalString,
  S3_SECRET_ACCESS_KEY: optionalString,
  S3_PUBLIC_URL: optionalUrl,

  OWNER_IDS: z.preprocess(
    (v) =>
      typeof v === 'string'
        ? v
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : [],
    z.array(ownerId),
  ),
  ALLOWED_COMMUNITIES: z.preprocess(
    (v) =>
      typeof v === 'string'
        ? v
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : [],
    z.array(
      z
        .string()
        .regex(/^(discord|telegram):-?\d{1,25}$/, 'each entry must be discord:<server id> or telegram:<chat id>'),
    ),
  ),
  LEAVE_UNLISTED: bool(false),
  DEFAULT_MODEL: optionalString,
  MODEL_PRICES: optionalString,
  CREDIT_VALUE_USD: optionalNumber,
  FREE_DAILY_CREDITS: int(0),
  STARTING_CREDITS: int(100),
  /** Requests priced above this many credits show their price with Confirm and Cancel first; 0 = never ask. */
  CONFIRM_ABOVE_CREDITS: int(100),

  MODERATION_URL: optionalUrl,
  MODERATION_API_KEY: optionalString,
  MODERATION_TIMEOUT_MS: int(5000, 100, 60_000),
  MODERATION_FAIL_OPEN: bool(false),
  BLOCKLIST: list,

  BUDGET_DAILY_USD: optionalNumber,
  BUDGET_MONTHLY_USD: optionalNumber,
  BUDGET_WARN_PERCENT: int(80, 1, 100),
  OWNER_ALERT_CHAT: alertChat,
  PROVIDER_ALERT_ERRORS: int(5, 1, 1000),
  // Provider fallback and health (core/health/provider-health.ts): `on` moves jobs off a provider that is down.
  PROVIDER_FALLBACK: z.preprocess(
    emptyToUndefined,
    z
      .enum(['on', 'off', 'true', 'false', '1', '0', 'yes', 'no'])
      .default('off')
      .transform((v) => ['on', 'true', '1', 'yes'].includes(v)),
  ),
  PROVIDER_FALLBACK_ERRORS: int(3, 1, 1000),
  PROVIDER_PROBE_S: int(60, 5, 86_400),
  KIE_LOW_CREDITS: int(1000, 0),

  RATE_LIMIT_JOBS: int(5, 1),
  RATE_LIMIT_WINDOW_S: int(600, 1),
  USER_MAX_PENDING_JOBS: int(3, 1),
  USER_MAX_RUNNING_JOBS: int(1, 1),
  MAX_INTAKE_IN_PROGRESS: int(16, 1),
  USER_MAX_INTAKE_IN_PROGRESS: int(2, 1),
  DAILY_JOB_QUOTA: int(20, 0),
  MAX_RUNNING_JOBS: int(8, 1),
  PROVIDER_MAX_RUNNING_JOBS: int(4, 1),
  PROVIDER_STATUS_CHECKS_PER_S: int(20, 1),
  STATUS_EDIT_INTERVAL_MS: int(3000, 0),
  MAX_RESULT_MB: int(200, 1),
  MEDIA_RETENTION_DAYS: int(30, 1),
  MAX_INPUT_IMAGE_MB: int(20, 1),
  FETCH_TIMEOUT_S: int(300, 1),
  FETCH_ALLOW_CIDRS: list,
  SHUTDOWN_GRACE_S: int(20, 0, 600),
  JOB_LEASE_S: int(30, 1, 3600),
});

export type Config = Readonly<Omit<z.output<typeof schema>, 'DEFAULT_MODEL'>> & {
  /** The model `/video` uses when none is named: DEFAULT_MODEL, or the shipped default of a provider with a key. */
  readonly DEFAULT_MODEL: string;
  /** Absolute path of DATA_DIR. */
  readonly dataDir: string;
  /** The owner's price table read from MODEL_PRICES, checked against the catalog. */
  readonly modelPrices?: PriceTable;
};

/** Which setting names the Ark model (or endpoint) behind each Ark model of the catalog. */
export const ARK_MODEL_SETTINGS = {
  'seedance-1-pro-ark': 'ARK_MODEL_ID',
  'seedance-1.5-pro-ark': 'ARK_SEEDANCE_1_5_PRO_MODEL_ID',
  'seedance-2-ark': 'ARK_SEEDANCE_2_MODEL_ID',
  'seedance-2-fast-ark': 'ARK_SEEDANCE_2_FAST_MODEL_ID',
} as const satisfies Readonly<Record<string, keyof z.output<typeof schema>>>;

/** The configured Ark model or endpoint id of each Ark catalog model, by catalog id. */
export function arkModelIds(config: Config): Readonly<Record<string, string>> {
  return Object.fromEntries(Object.entries(ARK_MODEL_SETTINGS).map(([modelId, setting]) => [modelId, config[setting]]));
}

/** Variables whose values must never reach a log line. */
export const SECRET_KEYS = [
  'DISCORD_TOKEN',
  'TELEGRAM_TOKEN',
  'TELEGRAM_WEBHOOK_SECRET',
  'FAL_KEY',
  'ARK_API_KEY',
  'KIE_API_KEY',
  'KIE_WEBHOOK_HMAC_KEY',
  'S3_SECRET_ACCESS_KEY',
  'MODERATION_API_KEY',
  'METRICS_TOKEN',
] as const satisfies readonly (keyof z.output<typeof schema>)[];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Reads the dotenv file (`ENV_FILE`, default `.env` in the working directory) into `env`, before `loadConfig`.
 * Variables already set win over the file, so a container's or a shell's settings are never overridden.
 * A missing `.env` is fine (the environment may hold everything); a missing `ENV_FILE` is a `ConfigError`.
 * Returns the path read and the names the file supplied (the demo keeps some of them out).
 */
export function loadEnvFile(
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): { file?: string; supplied: string[] } {
  const named = env.ENV_FILE?.trim();
  const file = path.resolve(cwd, named || '.env');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && !named) return { supplied: [] };
    throw new ConfigError([
      `ENV_FILE=${JSON.stringify(named ?? '.env')}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
    ]);
  }
  const supplied: string[] = [];
  for (const [key, value] of Object.entries(parseEnv(text))) {
    if (value === undefined || env[key] !== undefined) continue;
    env[key] = value;
    supplied.push(key);
  }
  return { file, supplied };
}

/** Parses the environment once; throws `ConfigError` naming each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? '?');
        const shown = SECRET_KEYS.includes(name as (typeof SECRET_KEYS)[number])
          ? '(hidden)'
          : JSON.stringify(env[name] ?? '');
        return `${name}=${shown}: ${issue.message}`;
      }),
    );
  }
  const c = parsed.data;
  const problems: string[] = [];
  if (c.STORAGE === 's3') {
    // No default public URL: endpoint/bucket is public only for a public-read bucket, which is the operator's call.
    for (const key of [
      'S3_ENDPOINT',
      'S3_BUCKET',
      'S3_ACCESS_KEY_ID',
      'S3_SECRET_ACCESS_KEY',
      'S3_PUBLIC_URL',
    ] as const) {
      if (!c[key]) problems.push(`${key}: required when STORAGE=s3`);
    }
  }
  try {
    createAddressPolicy(c.FETCH_ALLOW_CIDRS);
  } catch (error) {
    problems.push((error as Error).message);
  }
  // Each slow intake (a photo download) holds a Telegram handler, so they must never be able to take them all.
  if (c.TELEGRAM_TOKEN && c.MAX_INTAKE_IN_PROGRESS >= c.TELEGRAM_MAX_CONCURRENT_UPDATES) {
    problems.push(
      'MAX_INTAKE_IN_PROGRESS: must be below TELEGRAM_MAX_CONCURRENT_UPDATES, or slow downloads could hold every Telegram handler',
    );
  }
  problems.push(...shardProblems(c.DISCORD_SHARD_IDS, c.DISCORD_SHARD_COUNT));
  if (c.TELEGRAM_WEBHOOK_SECRET && !c.PUBLIC_URL) problems.push('TELEGRAM_WEBHOOK_SECRET: needs PUBLIC_URL too');
  if (c.OWNER_ALERT_CHAT?.startsWith('discord:') && !c.DISCORD_TOKEN)
    problems.push('OWNER_ALERT_CHAT: a Discord channel needs DISCORD_TOKEN too');
  if (c.OWNER_ALERT_CHAT?.startsWith('telegram:') && !c.TELEGRAM_TOKEN)
    problems.push('OWNER_ALERT_CHAT: a Telegram chat needs TELEGRAM_TOKEN too');
  const modelPrices = c.MODEL_PRICES ? readPriceTable(c.MODEL_PRICES, problems) : undefined;
  const defaultModel = chooseDefaultModel(c, problems);
  if (problems.length) throw new ConfigError(problems);
  return Object.freeze({
    ...c,
    DEFAULT_MODEL: defaultModel,
    dataDir: path.resolve(c.DATA_DIR),
    ...(modelPrices ? { modelPrices } : {}),
  });
}

/** The setting that enables each provider: a model of a provider without its key cannot be anyone's default. */
const PROVIDER_KEYS = { fal: 'FAL_KEY', ark: 'ARK_API_KEY', kie: 'KIE_API_KEY' } as const;

/**
 * DEFAULT_MODEL, checked (a video model whose provider has a key), or else the first shipped default whose provider
 * has one: an owner with only an Ark key gets Seedance on Ark, not "there is no model called seedance-1-pro".
 */
function chooseDefaultModel(c: z.output<typeof schema>, problems: string[]): string {
  const hasKey = (provider: string) => Boolean(c[PROVIDER_KEYS[provider as keyof typeof PROVIDER_KEYS]]);
  if (c.DEFAULT_MODEL === undefined)
    return SHIPPED_DEFAULT_MODELS.find((id) => hasKey(findModel(id)!.provider)) ?? SHIPPED_DEFAULT_MODELS[0];
  const where = `DEFAULT_MODEL=${JSON.stringify(c.DEFAULT_MODEL)}`;
  const model = findModel(c.DEFAULT_MODEL);
  if (!model)
    problems.push(
      `${where}: no such model (models: ${MODELS.filter((m) => m.kind === 'video')
        .map((m) => m.id)
        .join(', ')})`,
    );
  else if (model.kind !== 'video') problems.push(`${where}: makes videos from songs (/musicvideo); pick a video model`);
  else if (!hasKey(model.provider)) {
    const key = PROVIDER_KEYS[model.provider as keyof typeof PROVIDER_KEYS];
    problems.push(
      `${where}: runs on ${model.provider}, which has no key; set ${key} too, or pick a model of a provider you have a key for`,
    );
  }
  return model?.id ?? c.DEFAULT_MODEL;
}

/** A price table is a few lines per model; anything this big is the wrong file. */
const MAX_PRICE_FILE_BYTES = 256 * 1024;

/** Reads and checks the MODEL_PRICES file; what is wrong goes to `problems`, each naming the file. */
function readPriceTable(file: string, problems: string[]): PriceTable | undefined {
  const where = `MODEL_PRICES=${JSON.stringify(file)}`;
  let text: string;
  try {
    if (fs.statSync(file).size > MAX_PRICE_FILE_BYTES)
      return void problems.push(`${where}: larger than ${MAX_PRICE_FILE_BYTES / 1024} KiB; is it the right file?`);
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    return void problems.push(
      `${where}: cannot read ${path.resolve(file)} (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return void problems.push(`${where}: not valid JSON (${(error as Error).message})`);
  }
  const { table, problems: found } = parsePriceTable(json, MODELS);
  problems.push(...found.map((p) => `${where}: ${p}`));
  return table;
}

/**
 * Every process of one bot must agree on the shard count, or some servers reach two processes and others none;
 * the ids a process runs only mean something against that count.
 */
function shardProblems(ids: readonly number[], count: number | undefined): string[] {
  if (ids.length === 0) return [];
  if (count === undefined)
    return ['DISCORD_SHARD_IDS: needs DISCORD_SHARD_COUNT too (the same total in every process)'];
  const problems = ids
    .filter((id) => id >= count)
    .map(
      (id) =>
        `DISCORD_SHARD_IDS: shard ${id} is not below DISCORD_SHARD_COUNT=${count} (ids run from 0 to ${count - 1})`,
    );
  if (new Set(ids).size !== ids.length) problems.push('DISCORD_SHARD_IDS: lists a shard twice');
  return problems;
}

/** A copy of the config safe to log: secrets replaced by a marker. */
export function redactedConfig(config: Config): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...config };
  for (const key of SECRET_KEYS) if (copy[key]) copy[key] = '[redacted]';
  return copy;
}

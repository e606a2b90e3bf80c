import path from 'node:path';
import { loadConfig, loadEnvFile, ConfigError } from './config.js';
import { MODELS, type ModelSpec } from './core/catalog.js';
import { createLogger } from './logger.js';
import { installProcessErrorBoundary, runUntilDone } from './main.js';
import { startArkSimulator } from './sim/ark.js';
import { startFalSimulator } from './sim/fal.js';
import { startKieSimulator } from './sim/kie.js';

/**
 * `npm run demo`: the whole bot on this machine with no keys and no network. It starts the simulators of
 * every provider (fal.ai, Volcano Engine Ark, kie.ai) on 127.0.0.1, points the bot at them, and opens the console chat (interactive, or one-shot
 * with the commands given: `npm run demo -- "/video a red fox running through snow" "/balance"`).
 * Every other setting still comes from the environment, so the demo can be tuned like the real bot.
 */

/**
 * Settings of an owner's `.env` that would point the demo at their real bot: its chats, public address and storage.
 * The demo leaves them out unless they are set in the real environment.
 */
const OWNER_SETTINGS = [
  'DISCORD_TOKEN',
  'TELEGRAM_TOKEN',
  'TELEGRAM_WEBHOOK_SECRET',
  'PUBLIC_URL',
  'OWNER_ALERT_CHAT',
  'STORAGE',
];

/** The demo's own settings: they win over `.env` (a copy of .env.example spells out the real bot's defaults), not over the real environment. */
const DEMO_SETTINGS = {
  DATA_DIR: path.join('data', 'demo'),
  HTTP_PORT: '0',
  LOG_LEVEL: 'warn',
  STARTING_CREDITS: '500',
  STATUS_EDIT_INTERVAL_MS: '1000',
  RATE_LIMIT_JOBS: '20',
};

const SIM_QUEUE_MS: [number, number] = [1000, 2000];
const SIM_RUN_MS: [number, number] = [6000, 9000];

/** The catalog with expected durations matching the simulator, so the ETA and polling fit the demo. */
export function demoModels(): ModelSpec[] {
  const seconds = Math.round((SIM_QUEUE_MS[1] + SIM_RUN_MS[1]) / 1000);
  return MODELS.map((m) => ({
    ...m,
    expectedSecondsPer5s: { '480p': seconds, '720p': seconds, '1080p': seconds, '4k': seconds },
    ...(m.flat ? { flat: { ...m.flat, expectedSeconds: seconds } } : {}),
    timeoutSeconds: 120,
  }));
}

async function demo(): Promise<void> {
  const timing = { queueMs: SIM_QUEUE_MS, runMs: SIM_RUN_MS };
  const [fal, ark, kie] = await Promise.all([
    startFalSimulator(timing),
    startArkSimulator(timing),
    startKieSimulator({ ...timing, hdReadyMs: 2000, uhdReadyMs: 4000 }),
  ]);
  const fromFile: NodeJS.ProcessEnv = { ENV_FILE: process.env.ENV_FILE };
  try {
    loadEnvFile(fromFile);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  }
  for (const key of OWNER_SETTINGS) delete fromFile[key];
  const env = {
    ...fromFile,
    ...DEMO_SETTINGS,
    ...process.env,
    // The simulators live on loopback, which the SSRF guard refuses unless told otherwise.
    FETCH_ALLOW_CIDRS: '127.0.0.0/8,::1/128',
    FAL_KEY: fal.key,
    FAL_QUEUE_URL: fal.url,
    FAL_JWKS_URL: fal.jwksUrl,
    ARK_API_KEY: ark.apiKey,
    ARK_BASE_URL: ark.url,
    KIE_API_KEY: kie.apiKey,
    KIE_BASE_URL: kie.url,
  };
  let config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger(config.LOG_LEVEL, { write: (line: string) => process.stderr.write(line) });
  installProcessErrorBoundary(logger);
  const commands = process.argv.slice(2).filter((a) => a !== '--console');
  process.stdout.write(
    `clipbot demo: simulators of fal.ai, Volcano Engine Ark and kie.ai on 127.0.0.1, data in ${config.dataDir}\n`,
  );
  const closeSimulators = async () => void (await Promise.all([fal.close(), ark.close(), kie.close()]));
  const code = await runUntilDone(config, { console: { commands }, models: demoModels() }, logger, closeSimulators);
  process.exit(code);
}

void demo();

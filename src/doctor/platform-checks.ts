import type { Config } from '../config.js';
import { discordInviteLink } from '../platforms/discord/invite-link.js';
import { fail, ok, skip, type CheckResult } from './check.js';
import { field, probe, ProbeError } from './probe.js';

export function checkChatPlatform(config: Config): CheckResult {
  const title = 'Chat platform';
  const enabled = [config.TELEGRAM_TOKEN && 'Telegram', config.DISCORD_TOKEN && 'Discord'].filter(Boolean);
  return enabled.length
    ? ok(title, enabled.join(' and '))
    : fail(
        title,
        'none configured',
        'set TELEGRAM_TOKEN (from @BotFather) and/or DISCORD_TOKEN (Developer Portal → Bot)',
      );
}

/** getMe (the token works; who the bot is; privacy mode) and getWebhookInfo (what Telegram will deliver where). */
export async function checkTelegram(config: Config): Promise<CheckResult> {
  const title = 'Telegram';
  const token = config.TELEGRAM_TOKEN;
  if (!token) return skip(title, 'not configured (set TELEGRAM_TOKEN to serve Telegram)');
  const call = (method: string) => probe(`${config.TELEGRAM_API_ROOT}/bot${token}/${method}`);
  try {
    const me = await call('getMe');
    if (me.status === 401 || me.status === 404) {
      return fail(
        title,
        `TELEGRAM_TOKEN is refused (HTTP ${me.status}: ${String(field(me.json, 'description') ?? 'Unauthorized')})`,
        'copy the token again from @BotFather (/mybots → your bot → API Token)',
      );
    }
    const bot = field(me.json, 'result');
    if (me.status !== 200 || field(me.json, 'ok') !== true || !field(bot, 'username')) {
      return fail(
        title,
        `getMe answered HTTP ${me.status}`,
        `check TELEGRAM_API_ROOT (${config.TELEGRAM_API_ROOT}) and try again`,
      );
    }
    const privacy =
      field(bot, 'can_read_all_group_messages') === true
        ? 'privacy mode off (it sees every group message)'
        : 'privacy mode on (in groups it sees commands, mentions and replies)';
    const info = field((await call('getWebhookInfo')).json, 'result');
    const registered = String(field(info, 'url') ?? '');
    const wanted =
      config.TELEGRAM_WEBHOOK_SECRET && config.PUBLIC_URL
        ? `${config.PUBLIC_URL.replace(/\/$/, '')}/telegram/webhook`
        : '';
    const lastError = field(info, 'last_error_message');
    if (wanted && registered === wanted && typeof lastError === 'string' && lastError) {
      return fail(
        title,
        `@${String(field(bot, 'username'))}: Telegram cannot deliver to the webhook (${lastError})`,
        'make PUBLIC_URL reachable over https from the internet, or empty TELEGRAM_WEBHOOK_SECRET for long polling',
      );
    }
    const mode = wanted
      ? `webhook ${wanted} (${registered === wanted ? 'registered' : 'registered at start'})`
      : !config.TELEGRAM_POLLING
        ? 'not polling (TELEGRAM_POLLING=false: another process of this bot must poll)'
        : `long polling${registered ? ` (the webhook ${registered} is removed at start)` : ''}`;
    return ok(title, `@${String(field(bot, 'username'))}, ${privacy}; ${mode}`);
  } catch (error) {
    if (error instanceof ProbeError)
      return fail(
        title,
        `Telegram API unreachable (${error.message})`,
        `check the network and TELEGRAM_API_ROOT (${config.TELEGRAM_API_ROOT})`,
      );
    throw error;
  }
}

/**
 * /users/@me (the token works), /applications/@me (the invite link), /users/@me/guilds (where the bot is), and with
 * DISCORD_SKU_CREDITS the application's SKUs (what /buy sells exists and is consumable).
 */
export async function checkDiscord(config: Config): Promise<CheckResult> {
  const title = 'Discord';
  const token = config.DISCORD_TOKEN;
  if (!token) return skip(title, 'not configured (set DISCORD_TOKEN to serve Discord)');
  const base = config.DISCORD_API_BASE.replace(/\/$/, '');
  const call = (route: string) => probe(`${base}/v10${route}`, { headers: { authorization: `Bot ${token}` } });
  try {
    const me = await call('/users/@me');
    if (me.status === 401)
      return fail(
        title,
        'DISCORD_TOKEN is refused (HTTP 401)',
        'Developer Portal → your application → Bot → Reset Token, and put the new one in DISCORD_TOKEN',
      );
    if (me.status !== 200 || !field(me.json, 'id'))
      return fail(title, `/users/@me answered HTTP ${me.status}`, `check DISCORD_API_BASE (${base}) and try again`);
    const app = await call('/applications/@me');
    const applicationId = String(field(app.json, 'id') ?? field(me.json, 'id'));
    const guilds = await call('/users/@me/guilds?limit=200');
    const count = Array.isArray(guilds.json) ? guilds.json.length : undefined;
    const servers =
      count === undefined
        ? 'servers unknown'
        : count === 0
          ? 'in no server yet'
          : `in ${count === 200 ? '200+' : count} server${count === 1 ? '' : 's'}`;
    // Discord refuses a connection that would carry too many servers (close code 4011); it says how many shards it
    // wants in GET /gateway/bot, so a bot outgrowing its shard count hears it here before its gateway is refused.
    const wanted = Number(field((await call('/gateway/bot')).json, 'shards'));
    const shardCount = config.DISCORD_SHARD_COUNT ?? 1;
    if (Number.isInteger(wanted) && wanted > shardCount) {
      return fail(
        title,
        `${servers}: Discord asks for ${wanted} shards, DISCORD_SHARD_COUNT is ${shardCount}`,
        `set DISCORD_SHARD_COUNT=${wanted} in every process and spread DISCORD_SHARD_IDS over them (README, Growing past one process)`,
      );
    }
    const shards =
      config.DISCORD_SHARD_COUNT === undefined
        ? ''
        : `, shards ${config.DISCORD_SHARD_IDS.length ? config.DISCORD_SHARD_IDS.join(',') : 'all'} of ${shardCount}`;
    const packs = config.DISCORD_SKU_CREDITS;
    let selling = '';
    if (packs.length > 0) {
      const problem = skuProblem(packs, (await call(`/applications/${applicationId}/skus`)).json);
      if (problem)
        return fail(
          title,
          `DISCORD_SKU_CREDITS: ${problem}`,
          'Developer Portal → your application → Monetization → SKUs: copy the id of each one-time Consumable SKU',
        );
      selling = `, selling ${packs.length} credit pack${packs.length === 1 ? '' : 's'}`;
    }
    return ok(
      title,
      `${discordTag(me.json)}, ${servers}${shards}${selling}; invite: ${discordInviteLink(applicationId)}`,
    );
  } catch (error) {
    if (error instanceof ProbeError)
      return fail(
        title,
        `Discord API unreachable (${error.message})`,
        `check the network and DISCORD_API_BASE (${base})`,
      );
    throw error;
  }
}

/**
 * Every SKU in DISCORD_SKU_CREDITS must be one of the application's, and consumable (type 3): /buy's buttons name
 * them, and only a consumable can be consumed once credited (a durable one could never be bought twice).
 */
function skuProblem(packs: Config['DISCORD_SKU_CREDITS'], listed: unknown): string | undefined {
  if (!Array.isArray(listed)) return "the application's SKUs could not be read";
  for (const { skuId } of packs) {
    const sku: unknown = listed.find((s) => field(s, 'id') === skuId);
    if (!sku) return `SKU ${skuId} is not a SKU of this application`;
    if (field(sku, 'type') !== 3)
      return `SKU ${skuId} (${String(field(sku, 'name'))}) is not a one-time Consumable SKU`;
  }
  return undefined;
}

/** `name#1234` for bots that still have a discriminator, `name` for the new unique usernames ("0"). */
function discordTag(user: unknown): string {
  const discriminator = field(user, 'discriminator');
  const suffix = typeof discriminator === 'string' && discriminator !== '0' ? `#${discriminator}` : '';
  return `${String(field(user, 'username'))}${suffix}`;
}

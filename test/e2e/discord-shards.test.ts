import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startClipbot, type RunningBot } from '../../src/main.js';
import { startFalSimulator, type FalSimulator } from '../../src/sim/fal.js';
import { FakeDiscord, type FakeInteraction } from '../fakes/discord.js';
import type { FakeGuild } from '../fakes/discord-payloads.js';
import { tempDir } from '../helpers/db.js';
import { DISCORD_COMMANDS } from '../helpers/discord-world.js';
import { FAST_MODELS } from '../helpers/engine-harness.js';
import {
  freshPostgresDatabase,
  postgresAvailable,
  withPostgresClient,
  type TestDatabase,
} from '../helpers/postgres.js';
import { publicNetwork } from '../helpers/public-network.js';

/**
 * Discord sharded across two bot processes (two whole bots in this test process, each with its own data directory)
 * on one PostgreSQL: DISCORD_SHARD_COUNT=2, one runs shard 0 and the other shard 1, both logged in to one fake
 * Discord whose gateway routes each server's events to the session of its shard, as Discord does.
 */

const runs = await postgresAvailable();
const APPLICATION_COMMANDS = /^\/applications\/\d+\/commands$/;

interface BotProcess {
  bot: RunningBot;
  logs: string[];
}

describe.skipIf(!runs)('Discord shards spread over two processes', () => {
  let fake: FakeDiscord;
  let sim: FalSimulator;
  let database: TestDatabase;
  let onShardZero: FakeGuild;
  let onShardOne: FakeGuild;
  const processes: BotProcess[] = [];
  const cleanups: (() => void)[] = [];

  async function startProcess(shardIds: string): Promise<BotProcess> {
    const { dir, cleanup } = tempDir('clipbot-shard-');
    cleanups.push(cleanup);
    const config = loadConfig({
      DATA_DIR: dir,
      DATABASE_URL: database.url,
      HTTP_PORT: '0',
      FETCH_ALLOW_CIDRS: '127.0.0.0/8',
      FAL_KEY: sim.key,
      FAL_QUEUE_URL: sim.url,
      FAL_JWKS_URL: sim.jwksUrl,
      DISCORD_TOKEN: fake.token,
      DISCORD_API_BASE: fake.apiBase,
      DISCORD_SHARD_COUNT: '2',
      DISCORD_SHARD_IDS: shardIds,
      STATUS_EDIT_INTERVAL_MS: '100',
      STARTING_CREDITS: '200',
    });
    const logs: string[] = [];
    const logger = createLogger('info', { write: (line: string) => void logs.push(line) });
    const bot = await startClipbot(config, { logger, models: FAST_MODELS, fetchNetwork: publicNetwork });
    return { bot, logs };
  }

  beforeAll(async () => {
    fake = await FakeDiscord.start();
    sim = await startFalSimulator({ queueMs: 20, runMs: 200 });
    database = await freshPostgresDatabase();
    onShardZero = fake.addGuild('Shard zero server', { shard: [0, 2] });
    onShardOne = fake.addGuild('Shard one server', { shard: [1, 2] });
    // Started side by side, as a deploy starts its processes: neither waits for the other's registration.
    processes.push(...(await Promise.all([startProcess('0'), startProcess('1')])));
  });

  afterAll(async () => {
    for (const p of processes) await p.bot.stop();
    await fake?.close();
    await sim?.close();
    await database?.drop();
    for (const cleanup of cleanups) cleanup();
  });

  const deliveriesOf = (t: string, guildId: string | null) =>
    fake.gateway.deliveries.filter((d) => d.t === t && d.guildId === guildId);
  const finalStatus = (i: FakeInteraction) =>
    fake.waitFor(
      'the status to show ✅ Done',
      () => {
        const original = fake.original(i);
        return original && original.content.includes('✅ Done') ? original : undefined;
      },
      15_000,
    );

  it('opens one gateway connection per shard, each told only of the servers on its shard', () => {
    expect(fake.gateway.identifies.map((i) => i.shard).sort()).toEqual([
      [0, 2],
      [1, 2],
    ]);
    expect(fake.gateway.connected).toBe(2);
    expect(deliveriesOf('GUILD_CREATE', onShardZero.id).map((d) => d.shard)).toEqual([[0, 2]]);
    expect(deliveriesOf('GUILD_CREATE', onShardOne.id).map((d) => d.shard)).toEqual([[1, 2]]);
  });

  it('registers the slash commands once, from the process running shard 0; the other says why it does not', () => {
    expect(fake.calls('PUT', APPLICATION_COMMANDS)).toHaveLength(1);
    expect(fake.commands.global?.map((c) => c.name).sort()).toEqual([...DISCORD_COMMANDS].sort());
    expect(processes[0]!.logs.join('')).toContain('registered Discord slash commands');
    expect(processes[1]!.logs.join('')).toContain(
      'not registering the slash commands: the process running shard 0 does',
    );
  });

  it('answers a /video in a server of shard 1 from the process of shard 1 only, exactly once, and delivers it once', async () => {
    const alice = fake.member('Alice');
    const channelId = onShardOne.channels[0]!.id;
    const i = fake.slash(alice, 'video', { prompt: 'a lighthouse in a storm', resolution: '480p' }, { channelId });

    const status = await finalStatus(i);
    // Only the session of shard 1 received the interaction, so only its process held the token to answer it.
    expect(deliveriesOf('INTERACTION_CREATE', onShardOne.id).map((d) => d.shard)).toEqual([[1, 2]]);
    expect(fake.calls('POST', new RegExp(`^/interactions/${i.id}/`))).toHaveLength(1);
    expect(i.callbacks.map((c) => c.type)).toEqual([5]);
    expect(status.channelId).toBe(channelId);

    const delivered = await fake.waitFor('the delivery', () =>
      fake.channelMessages(channelId).find((m) => m.content.startsWith(`<@${alice.id}>`)),
    );
    expect(delivered.files).toHaveLength(1);
    expect(fake.channelMessages(channelId).filter((m) => m.content.startsWith(`<@${alice.id}>`))).toHaveLength(1);
    expect(sim.requests().map((r) => r.prompt)).toEqual(['a lighthouse in a storm']);
    const jobs = await withPostgresClient(
      database.name,
      async (client) =>
        (await client.query<{ status: string; chat_id: string }>('select status, chat_id from jobs')).rows,
    );
    expect(jobs).toEqual([{ status: 'succeeded', chat_id: channelId }]);
  });

  it('routes a server of shard 0 and direct messages to the process of shard 0', async () => {
    const bob = fake.member('Bob');
    const inServer = fake.slash(bob, 'balance', {}, { channelId: onShardZero.channels[0]!.id });
    const inDm = fake.slash(bob, 'balance', {}, { dm: true });
    for (const i of [inServer, inDm]) {
      await fake.waitFor('a private answer', () => fake.original(i)?.content.includes('200'));
      expect(i.callbacks).toHaveLength(1);
    }
    expect(deliveriesOf('INTERACTION_CREATE', onShardZero.id).map((d) => d.shard)).toEqual([[0, 2]]);
    expect(deliveriesOf('INTERACTION_CREATE', null).map((d) => d.shard)).toEqual([[0, 2]]);
  });
});

describe('a bot whose servers need more shards than it runs', () => {
  it('refuses to start, naming the close code Discord sent (4011 Sharding required)', async () => {
    const fake = await FakeDiscord.start({ maxGuildsPerShard: 1 });
    fake.addGuild('One server too many');
    const { dir, cleanup } = tempDir('clipbot-shard-');
    try {
      const config = loadConfig({
        DATA_DIR: dir,
        HTTP_PORT: '0',
        LOG_LEVEL: 'silent',
        DISCORD_TOKEN: fake.token,
        DISCORD_API_BASE: fake.apiBase,
      });
      await expect(startClipbot(config, { logger: createLogger('silent'), models: FAST_MODELS })).rejects.toThrow(
        /4011/,
      );
      expect(fake.gateway.connected).toBe(0);
    } finally {
      await fake.close();
      cleanup();
    }
  });
});

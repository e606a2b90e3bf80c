import type { Config } from '../../config.js';

/**
 * Sharding across processes: every process of the bot has the same DISCORD_SHARD_COUNT and its own
 * DISCORD_SHARD_IDS; Discord sends each server's events to the one connection of its shard
 * ((server id >> 22) % count), and direct messages to shard 0.
 */

type ShardConfig = Pick<Config, 'DISCORD_SHARD_IDS' | 'DISCORD_SHARD_COUNT'>;

/** The Client options for this process's shards; empty when unsharded (discord.js's single shard). */
export function clientShardOptions(config: ShardConfig): { shards?: number[]; shardCount?: number } {
  const count = config.DISCORD_SHARD_COUNT;
  if (count === undefined) return {};
  const ids = config.DISCORD_SHARD_IDS.length
    ? [...config.DISCORD_SHARD_IDS]
    : Array.from({ length: count }, (_, id) => id);
  return { shards: ids, shardCount: count };
}

/**
 * Commands are the application's, not a shard's: one process registers them, the one running shard 0 (which every
 * layout has exactly once), so several processes starting together never overwrite them side by side.
 */
export function registersCommands(config: ShardConfig): boolean {
  return (
    config.DISCORD_SHARD_COUNT === undefined ||
    config.DISCORD_SHARD_IDS.length === 0 ||
    config.DISCORD_SHARD_IDS.includes(0)
  );
}

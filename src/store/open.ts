import path from 'node:path';
import type { Logger } from '../core/ports.js';
import type { Store } from '../core/store.js';
import { openPostgresStore } from './postgres/index.js';
import { openSqliteStore } from './sqlite/index.js';

/** Where the state lives: PostgreSQL when DATABASE_URL names it (several processes), else SQLite in DATA_DIR. */
export async function openStore(
  config: { DATABASE_URL?: string | undefined; dataDir: string },
  logger: Logger,
): Promise<Store> {
  if (!config.DATABASE_URL) return openSqliteStore(path.join(config.dataDir, 'clipbot.db'), logger);
  return openPostgresStore(config.DATABASE_URL, {
    onPoolError: (error) =>
      logger.warn({ err: error }, 'a PostgreSQL connection failed; the pool opens another when needed'),
  });
}

/** The database as a start-up line or a check may name it: never the password of a DATABASE_URL. */
export function describeStore(config: { DATABASE_URL?: string | undefined; dataDir: string }): string {
  if (!config.DATABASE_URL) return path.join(config.dataDir, 'clipbot.db');
  const url = new URL(config.DATABASE_URL);
  return `postgres://${url.host}${url.pathname}`;
}

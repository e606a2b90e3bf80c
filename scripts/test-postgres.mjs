// The engine, core, property, hostile and fault suites and the end-to-end tests whose bot keeps state once more, on
// PostgreSQL (test/helpers/test-store.ts): `npm test` runs this after the whole suite on SQLite. Without a PostgreSQL
// server on 127.0.0.1:5432 it says so and stops, unless CLIPBOT_REQUIRE_POSTGRES=1 (CI): then that fails the run.
import { spawnSync } from 'node:child_process';
import pg from 'pg';

const SUITES = [
  'test/core',
  'test/engine',
  'test/hostile',
  'test/fault',
  'test/commands/commands.test.ts',
  // Not backup, migrate-to-postgres, demo, owner-path (SQLite itself), nor those whose subject is not the store.
  'test/e2e/allow-list.test.ts',
  'test/e2e/authority-matrix.test.ts',
  'test/e2e/cross-platform.test.ts',
  'test/e2e/discord-intake-limits.test.ts',
  'test/e2e/discord-premium.test.ts',
  'test/e2e/discord.test.ts',
  'test/e2e/providers.test.ts',
  'test/e2e/telegram-concurrency.test.ts',
  'test/e2e/telegram-stars.test.ts',
  'test/e2e/telegram.test.ts',
];

const client = new pg.Client({
  connectionString: 'postgres://postgres@127.0.0.1:5432/postgres',
  connectionTimeoutMillis: 3_000,
});
const answers = await client.connect().then(
  () => client.end().then(() => true),
  () => false,
);
if (!answers) {
  const required = process.env.CLIPBOT_REQUIRE_POSTGRES === '1';
  console.error(
    `${required ? 'Failed' : 'Skipped'}: the PostgreSQL pass needs a server on 127.0.0.1:5432 (user postgres, trust auth).`,
  );
  process.exit(required ? 1 : 0);
}
const run = spawnSync('npx', ['vitest', 'run', ...SUITES, ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, CLIPBOT_TEST_STORE: 'postgres' },
});
process.exit(run.status ?? 1);

import { randomBytes } from 'node:crypto';
import { dropRunDatabases, postgresAvailable } from './helpers/postgres.js';

/**
 * One name for this test run, which every PostgreSQL database a test makes starts with: at the end of the run,
 * whatever a test left behind (a failed test, a killed worker) is dropped, and nothing of another run on the same
 * server (a second checkout's tests) is touched. Workers are forked after this runs, so they inherit the variable.
 */
export function setup(): void {
  process.env.CLIPBOT_TEST_RUN = randomBytes(4).toString('hex');
}

export async function teardown(): Promise<void> {
  if (await postgresAvailable()) await dropRunDatabases(process.env.CLIPBOT_TEST_RUN!);
}

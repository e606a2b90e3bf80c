import { ConfigError, loadConfig, type Config } from '../config.js';
import type { Logger } from '../core/ports.js';
import { createLogger } from '../logger.js';
import { fail, formatCheck, ok, type CheckResult } from './check.js';
import { checkDatabase, checkDataDir, checkDiskSpace } from './local-checks.js';
import { checkModeration } from './moderation-check.js';
import { checkChatPlatform, checkDiscord, checkTelegram } from './platform-checks.js';
import { checkArk, checkFal, checkKie, checkVideoProvider } from './provider-checks.js';
import { checkPostgresDatabase } from './postgres-check.js';
import { checkPublicUrl } from './public-url-check.js';
import { checkS3 } from './storage-check.js';

/**
 * `npm run doctor` (`npm start -- --check`): everything an owner can get wrong, one line each, in the order of the
 * README's "Run it for real" checklist. Exit code 0 only when everything configured works; something not
 * configured is a ➖ line, not a failure (except having no chat platform or no provider at all).
 */
export interface DoctorOptions {
  env: NodeJS.ProcessEnv;
  /** The dotenv file that was read, if any (shown on the first line). */
  envFile?: string | undefined;
  write: (line: string) => void;
  logger?: Logger;
}

export async function runDoctor(options: DoctorOptions): Promise<number> {
  const results: CheckResult[] = [];
  const report = (result: CheckResult) => {
    results.push(result);
    options.write(formatCheck(result));
  };
  const source = options.envFile
    ? `from ${options.envFile} and the environment`
    : 'from the environment (no .env file)';
  let config: Config;
  try {
    config = loadConfig(options.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    report(
      fail(
        'Settings',
        `${source}: ${error.problems.join('; ')}`,
        'correct these in .env (every setting is explained in .env.example)',
      ),
    );
    return 1;
  }
  report(ok('Settings', `valid, ${source}`));
  report(checkDataDir(config));
  report(checkDiskSpace(config));
  const { DATABASE_URL } = config;
  report(DATABASE_URL ? await checkPostgresDatabase({ ...config, DATABASE_URL }) : checkDatabase(config));

  const logger = options.logger ?? createLogger('silent');
  // The remote checks are independent: run them at once, print them in checklist order.
  const remote = [
    Promise.resolve(checkChatPlatform(config)),
    checkTelegram(config),
    checkDiscord(config),
    Promise.resolve(checkVideoProvider(config)),
    checkFal(config),
    checkArk(config),
    checkKie(config),
    checkPublicUrl(config),
    checkS3(config, logger),
    checkModeration(config),
  ];
  for (const result of await Promise.all(
    remote.map((p) =>
      p.catch((error: unknown) => fail('Doctor', `a check crashed: ${(error as Error).message}`, 'please report this')),
    ),
  )) {
    report(result);
  }
  const failed = results.filter((r) => r.status === 'fail').length;
  options.write(
    failed ? `\n${failed} problem${failed === 1 ? '' : 's'} to fix (❌ above).` : '\nEverything configured works.',
  );
  return failed ? 1 : 0;
}

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, loadEnvFile } from '../../src/config.js';
import { tempDir } from '../helpers/db.js';

/** `.env` handling: what `npm start`, `npm run demo`, `npm run doctor` and `npm run backup` read before the config. */

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function folder(files: Record<string, string>): string {
  const { dir, cleanup } = tempDir('clipbot-envfile-');
  cleanups.push(cleanup);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

describe('loadEnvFile', () => {
  describe('when .env exists in the working directory', () => {
    it('fills the environment from it, quotes and comments understood, and the config sees the values', () => {
      const cwd = folder({ '.env': '# the bot\nTELEGRAM_TOKEN="123:abc"\nHTTP_PORT=9090 # a comment\nBLOCKLIST=\n' });
      const env: NodeJS.ProcessEnv = {};
      const read = loadEnvFile(env, cwd);

      expect(read.file).toBe(path.join(cwd, '.env'));
      expect(read.supplied.sort()).toEqual(['BLOCKLIST', 'HTTP_PORT', 'TELEGRAM_TOKEN']);
      const config = loadConfig(env);
      expect(config.TELEGRAM_TOKEN).toBe('123:abc');
      expect(config.HTTP_PORT).toBe(9090);
    });

    it('lets variables already in the environment win, even empty ones', () => {
      const cwd = folder({ '.env': 'HTTP_PORT=9090\nTELEGRAM_TOKEN=from-file\nLOG_LEVEL=debug\n' });
      const env: NodeJS.ProcessEnv = { HTTP_PORT: '7070', TELEGRAM_TOKEN: '' };
      const read = loadEnvFile(env, cwd);

      expect(read.supplied).toEqual(['LOG_LEVEL']);
      expect(env).toEqual({ HTTP_PORT: '7070', TELEGRAM_TOKEN: '', LOG_LEVEL: 'debug' });
    });
  });

  describe('when there is no .env', () => {
    it('is fine: nothing is read and the environment is untouched', () => {
      const env: NodeJS.ProcessEnv = { HTTP_PORT: '1' };
      expect(loadEnvFile(env, folder({}))).toEqual({ supplied: [] });
      expect(env).toEqual({ HTTP_PORT: '1' });
    });
  });

  describe('when ENV_FILE names another file', () => {
    it('reads that file (relative to the working directory) and not .env', () => {
      const cwd = folder({ '.env': 'HTTP_PORT=1111\n', 'prod.env': 'HTTP_PORT=2222\n' });
      const env: NodeJS.ProcessEnv = { ENV_FILE: 'prod.env' };
      expect(loadEnvFile(env, cwd).file).toBe(path.join(cwd, 'prod.env'));
      expect(env['HTTP_PORT']).toBe('2222');
    });

    it('a missing ENV_FILE is a ConfigError naming it, not a silent start without settings', () => {
      const env: NodeJS.ProcessEnv = { ENV_FILE: 'missing.env' };
      expect(() => loadEnvFile(env, folder({}))).toThrow(ConfigError);
      expect(() => loadEnvFile(env, folder({}))).toThrow(
        /ENV_FILE="missing\.env": cannot read .+missing\.env \(ENOENT\)/,
      );
    });
  });
});

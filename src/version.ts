import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * clipbot's own version, read once from its package.json. The file is looked up from this module upwards because
 * the module sits one level deeper when compiled (dist/src/) than when run from source (src/).
 */
export const CLIPBOT_VERSION: string = readVersion();

/**
 * What every provider adapter sends as `User-Agent`: some providers' edges refuse a request without one, and a
 * named client lets a provider's support find our calls in their logs.
 */
export const CLIPBOT_USER_AGENT = `clipbot/${CLIPBOT_VERSION}`;

function readVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 4; depth++) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'clipbot' && typeof pkg.version === 'string') return pkg.version;
    }
    dir = dirname(dir);
  }
  // A copy of the code without its package.json still runs; it just cannot say which version it is.
  return '0.0.0-unknown';
}

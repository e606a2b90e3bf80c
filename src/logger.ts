import { pino, type DestinationStream } from 'pino';
import { SECRET_KEYS } from './config.js';
import type { Logger } from './core/ports.js';

/**
 * pino with secrets redacted wherever they appear as a field (config dumps, error objects carrying headers).
 * Tokens inside free text (URLs with a bot token) are the platform adapters' job: they never log such URLs.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      redact: {
        paths: [
          ...SECRET_KEYS,
          ...SECRET_KEYS.map((k) => `*.${k}`),
          'headers.authorization',
          '*.headers.authorization',
          'token',
          '*.token',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

/** A logger that drops everything (tests that do not assert on logs). */
export const silentLogger: Logger = pino({ level: 'silent' });

import { z } from 'zod';

/** Shared option parsers: text platforms hand us strings, Discord hands us typed values; accept both. */

export const flag = z.preprocess(
  (v) => {
    if (typeof v === 'boolean') return v;
    if (typeof v === 'string') {
      const s = v.trim().toLowerCase();
      if (['true', 'yes', 'on', '1', ''].includes(s)) return true;
      if (['false', 'no', 'off', '0'].includes(s)) return false;
    }
    return v;
  },
  z.boolean({ error: 'use true or false' }),
);

export const positiveAmount = z.coerce
  .number({ error: 'must be a number' })
  .int('must be a whole number')
  .positive('must be more than 0')
  .max(1_000_000, 'must be at most 1000000');

export const userRef = z.string({ error: 'name a user, e.g. discord:1234' }).trim().min(1).max(100);

export const jobId = z
  .string()
  .trim()
  .regex(/^[a-z0-9]{3,20}$/i, 'is not a job id (see /history)');

export const reason = z.string().trim().max(300, 'must be at most 300 characters');

import { expect } from 'vitest';
import type { ConfirmOutcome, RequestOutcome } from '../../src/core/engine/quotes.js';
import { UserError } from '../../src/core/errors.js';

/** What a request or a Confirm made, when the test expects a job (else it fails, naming what came instead). */
export function jobOf(outcome: ConfirmOutcome | RequestOutcome) {
  if (outcome.kind !== 'job') throw new Error(`expected a job, got ${outcome.kind}`);
  return outcome.result;
}

/** The identifier of the UserError `promise` is refused with (the test fails if it is not refused so). */
export async function refusal(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UserError);
  return (error as UserError).identifier;
}

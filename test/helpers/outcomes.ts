import { expect } from 'vitest';
import type { FollowupOrder } from '../../src/core/engine/followups.js';
import type { ConfirmOutcome, RequestOutcome } from '../../src/core/engine/quotes.js';
import { UserError } from '../../src/core/errors.js';
import type { EngineHarness } from './engine-harness.js';

/** What a request or a Confirm made, when the test expects a job (else it fails, naming what came instead). */
export function jobOf(outcome: ConfirmOutcome | RequestOutcome) {
  if (outcome.kind !== 'job') throw new Error(`expected a job, got ${outcome.kind}`);
  return outcome.result;
}

/** The error `promise` is rejected with; the test fails unless it is rejected with an `E`. */
export async function rejection<E>(promise: Promise<unknown>, type: abstract new (...args: never[]) => E): Promise<E> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(type);
  return error as E;
}

/** The identifier of the UserError `promise` is refused with (the test fails if it is not refused so). */
export async function refusal(promise: Promise<unknown>): Promise<string> {
  return (await rejection(promise, UserError)).identifier;
}

/** A follow-up as `user` presses it in the harness's chat. */
export function followupOrder(
  t: EngineHarness,
  user: string,
  extra: Omit<FollowupOrder, 'identity' | 'dest' | 'intakeKey'>,
): FollowupOrder {
  const { identity, dest, intakeKey } = t.request(user, '');
  return { identity, dest, intakeKey, ...extra };
}

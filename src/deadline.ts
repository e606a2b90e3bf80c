/**
 * A signal for one outbound call: it aborts when the caller's signal does, or once `timeoutMs` have passed.
 * `AbortSignal.any()` is not used: every signal it makes stays reachable from a long-lived input (the engine's
 * shutdown signal, passed to every provider call), a leak of one signal per call (nodejs/node#55351).
 * `dispose()` lets go of the caller's signal and the timer; call it when the call is over.
 */
export interface Deadline {
  signal: AbortSignal;
  /** True if it was the time limit, not the caller, that aborted. */
  readonly expired: boolean;
  dispose(): void;
}

export function startDeadline(
  timeoutMs: number,
  parent?: AbortSignal,
  reason = () => new Error(`no answer within ${timeoutMs} ms`),
): Deadline {
  const controller = new AbortController();
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    controller.abort(reason());
  }, timeoutMs);
  const onParentAbort = () => controller.abort(parent?.reason);
  if (parent?.aborted) onParentAbort();
  else parent?.addEventListener('abort', onParentAbort, { once: true });
  return {
    signal: controller.signal,
    get expired() {
      return expired;
    },
    dispose() {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onParentAbort);
    },
  };
}

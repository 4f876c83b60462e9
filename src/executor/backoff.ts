/**
 * Waiting between retries: exponential backoff with jitter (so executors that lost the same
 * server do not return in lockstep), and a sleep that ends early when its signal aborts.
 */

/** First and longest pause between two attempts. */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

/** Half a second, doubling up to 30 s: short outages cost little, long ones little load. */
export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 30_000 };

/** The pause before retry number `attempt` (0-based): a random 50–100 % of the capped step. */
export function backoffDelay(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  const step = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(step * (0.5 + Math.random() * 0.5));
}

/** Resolves after `ms`, or as soon as `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

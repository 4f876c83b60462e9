/**
 * What the ipmi and redfish drivers share: their options with every default in one place, one
 * queue per BMC (a BMC handles one command at a time well; two conductors' calls interleaved
 * confuse cheap ones), retries with backoff for the failures worth retrying, and polling the
 * power state until it reads back as the target.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { type BmcEndpoint, BmcError, type PowerState } from "./bmc-driver.js";

/** How a driver behaves with slow and flaky BMCs; every field has a default. */
export interface BmcDriverOptions {
  logger?: Logger;
  /** One BMC command (one ipmitool run, one HTTP request) may take this long. */
  timeoutMs?: number;
  /** Further attempts after a failed command that is worth retrying. */
  retries?: number;
  /** The first backoff between attempts; doubled each time. */
  backoffMs?: number;
  /** How long a power change may take to read back as done. */
  powerTimeoutMs?: number;
  /** How long a soft power-off may take before the driver forces the power off. */
  softOffTimeoutMs?: number;
  /** Between power-state reads while waiting for a change. */
  pollIntervalMs?: number;
}

/** The options a driver runs with, every default filled in. */
export type ResolvedBmcOptions = Required<Omit<BmcDriverOptions, "logger">> & {
  logger?: Logger;
};

export function resolveBmcOptions(options: BmcDriverOptions = {}): ResolvedBmcOptions {
  const resolved: ResolvedBmcOptions = {
    timeoutMs: options.timeoutMs ?? 15_000,
    retries: options.retries ?? 3,
    backoffMs: options.backoffMs ?? 500,
    powerTimeoutMs: options.powerTimeoutMs ?? 60_000,
    softOffTimeoutMs: options.softOffTimeoutMs ?? 120_000,
    pollIntervalMs: options.pollIntervalMs ?? 1_000,
  };
  if (options.logger) resolved.logger = options.logger;
  return resolved;
}

/** The BMC a queue belongs to; two drivers for one BMC share it. */
export function endpointKey(endpoint: BmcEndpoint): string {
  return `${endpoint.driver}://${endpoint.address}:${endpoint.port}`;
}

const queues = new Map<string, Promise<unknown>>();

/** Runs `work` after every earlier call to the same BMC has finished (in this process). */
export function serialized<T>(key: string, work: () => Promise<T>): Promise<T> {
  const previous = queues.get(key) ?? Promise.resolve();
  const run = previous.then(work, work);
  const tail = run.catch(() => undefined);
  queues.set(key, tail);
  void tail.then(() => {
    if (queues.get(key) === tail) queues.delete(key);
  });
  return run;
}

/** Whether a failure may go away on its own (unreachable, timeout), unlike a wrong password. */
export function isTransient(error: unknown): boolean {
  return (
    error instanceof BmcError &&
    (error.reason === "BMC_UNREACHABLE" || error.reason === "BMC_TIMEOUT")
  );
}

/** Runs `attempt` until it succeeds, fails for good, or the retries are spent. */
export async function withRetries<T>(
  options: ResolvedBmcOptions,
  what: string,
  attempt: () => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (!isTransient(error) || n >= options.retries || signal?.aborted) throw error;
      const delay = options.backoffMs * 2 ** n;
      options.logger?.warn(
        { attempt: n + 1, delayMs: delay, reason: (error as BmcError).reason },
        `BMC ${what} failed, retrying`,
      );
      await sleep(delay, undefined, signal ? { signal } : undefined);
    }
  }
}

/** Polls `read` until it returns `target`; POWER_STATE_NOT_REACHED after `timeoutMs`. */
export async function waitForPower(
  read: () => Promise<PowerState>,
  target: PowerState,
  timeoutMs: number,
  intervalMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await read()) === target) return true;
    const left = deadline - Date.now();
    if (left <= 0) return false;
    await sleep(Math.min(intervalMs, left), undefined, signal ? { signal } : undefined);
  }
}

/** The error of a power change the BMC accepted but never reported as done. */
export function notReached(target: PowerState, timeoutMs: number): BmcError {
  return new BmcError(
    "POWER_STATE_NOT_REACHED",
    `the BMC did not report power ${target} within ${timeoutMs} ms`,
  );
}

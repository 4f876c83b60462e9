/**
 * WatchProviders: follows the change log (resource_changes) from the moment the watch starts,
 * through the same feed reader as the fleet index (repo/changes.ts). A watcher polls every
 * POLL_MS, and wakes at once when this process commits a change or the fleet index reads
 * another process's changes (after a PostgreSQL NOTIFY). The stream ends when the call's signal
 * aborts (client gone, deadline, shutdown).
 */
import type { Logger } from "pino";
import type { Caller } from "../platform/caller.js";
import { MulliganError } from "../platform/errors.js";
import type { Store, Tx } from "../store/store.js";
import { seesProviders } from "./access.js";
import { type InventoryView, inventoryViews } from "./inventories.js";
import {
  type Provider,
  type RegistryDeps,
  resolveProvider,
  toProviders,
  withRegionNames,
} from "./provider-records.js";
import * as repo from "./repo/changes.js";

/** How often a watcher looks for changes other processes made. */
const POLL_MS = 200;
/** Most change rows read per poll. */
const BATCH = 500;

/** A decoded WatchProviders request. */
export interface WatchInput {
  /** Provider names or UUIDs; empty for all. */
  providers: readonly string[];
  region?: string;
}

/** One change as streamed; provider null when it no longer exists. */
export interface WatchEvent {
  seq: number;
  change: string;
  providerUuid: string;
  provider: Provider | null;
  inventories: InventoryView[];
}

/** Wakes this process's watchers when it commits a change, so they need not wait a poll. */
export class ChangeNotifier {
  private readonly waiters = new Set<() => void>();

  notify(): void {
    for (const wake of [...this.waiters]) wake();
  }

  /** Resolves on notify, after `ms`, or when `signal` aborts, whichever comes first. */
  wait(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }
}

/**
 * The store as the resource part uses it: after a transaction that appended to the change log
 * commits (registry writes and claims alike), `committed` runs with what it appended — the
 * fleet index re-reads those providers and watchers wake — before the caller gets its answer.
 * `known` is true when the transaction is known to have committed (its caller got a value);
 * after a failure it may or may not have (a failed unit of a committed batch), so the index
 * re-reads the providers but does not count the rows' numbers as applied.
 */
export function notifyingStore(
  store: Store,
  committed: (appended: repo.Appended, known: boolean) => Promise<void>,
): Store {
  // Group-committed transactions share one database transaction: its changes are handed on
  // once, and every transaction of the batch waits for that one call.
  const handedOn = new WeakMap<Tx, Promise<void>>();
  return {
    dialect: store.dialect,
    db: store.db,
    readDb: store.readDb,
    description: store.description,
    serialCommits: store.serialCommits,
    async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
      let last: Tx | undefined;
      let outcome: { ok: true; value: T } | { ok: false; err: unknown };
      try {
        outcome = {
          ok: true,
          value: await store.transaction((tx) => {
            last = tx;
            return fn(tx);
          }),
        };
      } catch (err) {
        // A transaction that failed inside a committed batch waits for the batch's changes
        // too: a caller that retries (ClaimBest after a conflict) then searches a current index.
        outcome = { ok: false, err };
      }
      const appended = last && repo.appendedIn(last);
      if (last && appended) {
        let done = handedOn.get(last);
        if (!done) {
          done = committed(appended, outcome.ok);
          handedOn.set(last, done);
        }
        await done;
      }
      if (!outcome.ok) throw outcome.err;
      return outcome.value;
    },
    isUniqueViolation: (err) => store.isUniqueViolation(err),
    isRetryable: (err) => store.isRetryable(err),
    ping: () => store.ping(),
    close: () => store.close(),
    listen: (channel, wake, options) => store.listen(channel, wake, options),
    notify: (channel) => store.notify(channel),
  };
}

/**
 * Sends at most one NOTIFY at a time: requests while one is in flight are folded into one more
 * after it (other processes re-read the whole feed on any wake-up, so one is as good as many).
 */
export function coalescedNotify(store: Store, channel: string, logger: Logger): () => void {
  let inFlight = false;
  let again = false;
  const send = (): void => {
    inFlight = true;
    again = false;
    store
      .notify(channel)
      .catch((err) => logger.warn({ err }, "change notification failed"))
      .finally(() => {
        inFlight = false;
        if (again) send();
      });
  };
  return () => {
    if (inFlight) again = true;
    else send();
  };
}

/** Streams changes after the current end of the log, filtered by provider and region. */
export async function* watchProviders(
  deps: RegistryDeps & { notifier: ChangeNotifier },
  caller: Caller,
  input: WatchInput,
  signal: AbortSignal,
): AsyncGenerator<WatchEvent> {
  const p = caller.principal;
  if (!seesProviders(p))
    throw MulliganError.permissionDenied(
      "FLEET_ROLE_REQUIRED",
      "only fleet readers watch providers",
    );
  const db = deps.store.db;
  const only = new Set<string>();
  for (const [i, ref] of input.providers.entries())
    only.add((await resolveProvider(db, p, ref, `providers[${i}]`)).uuid);
  let regions: ReadonlySet<string> | null = null;
  if (input.region !== undefined) {
    const region = await deps.regions.findRegion(caller, input.region);
    if (!region) throw MulliganError.notFound("region", input.region, "region");
    regions = await deps.regions.subtree(caller, region.uuid);
  }
  const regionOf = new Map<string, string>();
  let cursor = await repo.feedStart(deps.store, db);
  while (!signal.aborted) {
    const batch = await repo.feedAfter(deps.store, db, cursor, BATCH);
    // The stream fell behind the log's retention: changes it never sent are gone.
    if (batch.truncated)
      throw new MulliganError(
        "ABORTED",
        "WATCH_FELL_BEHIND",
        "this watch fell more than the change log's retention behind; read the providers again and watch anew",
      );
    cursor = batch.cursor;
    if (batch.rows.length === 0) {
      await deps.notifier.wait(POLL_MS, signal);
      continue;
    }
    for (const c of batch.rows) {
      if (signal.aborted) return;
      if (only.size > 0 && !only.has(c.provider_uuid)) continue;
      const event = await describe(deps, caller, c);
      if (event.provider) regionOf.set(c.provider_uuid, event.provider.regionUuid);
      const region = regionOf.get(c.provider_uuid);
      if (regions && (region === undefined || !regions.has(region))) continue;
      yield event;
    }
  }
}

/** A change with the provider's current state (null if deleted since). */
async function describe(
  deps: RegistryDeps,
  caller: Caller,
  c: repo.ChangeRow,
): Promise<WatchEvent> {
  const event = {
    seq: c.seq,
    change: c.change,
    providerUuid: c.provider_uuid,
    provider: null,
    inventories: [],
  };
  const db = deps.store.db;
  try {
    const row = await resolveProvider(db, caller.principal, c.provider_uuid, "provider");
    const [provider] = await withRegionNames(deps, caller, await toProviders(db, [row]));
    const inventories = await inventoryViews(db, row.uuid);
    return { ...event, provider: provider ?? null, inventories };
  } catch (err) {
    // Deleted since (or while) the change was read: send the UUID only.
    if (err instanceof MulliganError && err.code === "NOT_FOUND") return event;
    throw err;
  }
}

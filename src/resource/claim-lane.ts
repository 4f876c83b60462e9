/**
 * The claim lane: claims of new consumers (every ClaimBest) decided in batches, like Nomad's
 * plan applier. Claims that arrive while a batch is being written wait for the next one; a
 * batch is one unit of the group-committed store and costs a fixed number of statements,
 * whatever its size:
 *
 *  1. the quotas of the batch's projects, to know which claims a limit applies to;
 *  2. every request_id claimed at once (claimRequestIds; a retry answers from its record);
 *  3. every touched provider locked, in UUID order (PostgreSQL: FOR UPDATE), with its name;
 *  4. their inventories, and 5. the others' usage over the union of the claims' windows;
 *  and, when a limit applies, the quota rows of those projects locked and read again (after
 *  the providers, as writeClaim locks them) with each such project's usage;
 *  then each claim is checked in order, in memory, against that usage plus the claims of the
 *  batch accepted before it (assertCapacity, then assertQuota: the rules of a single claim);
 *  6. the accepted consumers inserted (one already existing is a conflict), 7. their allocation
 *  rows, 8. the providers' generations, 9. the change rows, 10. the recorded results (and the
 *  request ids of failed claims released).
 *
 * A single claim used to take about a dozen sequential statements in the group commit's one
 * lane; on PostgreSQL each is a round trip, and that lane was the claims bench's ceiling.
 * Every claim is still answered on its own, only after the batch committed; a claim that no
 * longer fits gets CAPACITY_EXCEEDED (ClaimBest then tries its next candidate), and a failure
 * of the batch itself fails (or, when retryable, re-runs) every claim in it.
 */

import { nowIso } from "../platform/ids.js";
import type { Principal } from "../platform/principal.js";
import {
  claimRequestIds,
  forgetRequests,
  type IdempotencyKey,
  recordedResult,
  recordResults,
} from "../store/request-log.js";
import type { Store, Tx } from "../store/store.js";
import {
  allocationRowsOf,
  amountsByClass,
  assertCapacity,
  type ClaimResult,
  type ClaimWrite,
  consumerRow,
} from "./allocations.js";
import { allocationViews, consumerConflict, consumerRecord, visibleConsumer } from "./consumers.js";
import { usageBook } from "./engine/snapshot.js";
import type { Window } from "./model.js";
import { assertQuota } from "./quotas.js";
import { appendNewConsumers } from "./repo/changes.js";
import * as repo from "./repo/claims.js";
import { allocationRecord } from "./snapshot-loader.js";

/** Claims in one batch at most. */
const MAX_BATCH = 64;

/** A claim of a new consumer: `write.expectedGeneration` null, at least one allocation. */
export interface LaneClaim {
  principal: Principal;
  key: IdempotencyKey;
  write: ClaimWrite;
}

interface Pending {
  claim: LaneClaim;
  /** What the caller gets and the request log records for the claim written. */
  respond: (r: ClaimResult) => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** What became of one claim of a batch (settled after the commit). */
type Settled = { ok: true; value: unknown } | { ok: false; err: unknown };
type Outcome =
  | Settled
  /** In the next batch (a twin of an earlier claim of this batch by request_id). */
  | { again: true };

const lanes = new WeakMap<Store, ClaimLane>();

/** The lane of a (group-committed) store. */
export function claimLane(store: Store): ClaimLane {
  let lane = lanes.get(store);
  if (!lane) {
    lane = new ClaimLane(store);
    lanes.set(store, lane);
  }
  return lane;
}

export class ClaimLane {
  private queue: Pending[] = [];
  private running = false;
  private scheduled = false;

  constructor(private readonly store: Store) {}

  /** Writes the claim in a batch; resolves with respond(result) once the batch committed. */
  submit<T>(claim: LaneClaim, respond: (r: ClaimResult) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ claim, respond, resolve: resolve as (v: unknown) => void, reject });
      this.schedule();
    });
  }

  /** Claims submitted in the same turn of the event loop join one batch. */
  private schedule(): void {
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.run();
    });
  }

  private async run(): Promise<void> {
    if (this.running || this.queue.length === 0) return;
    this.running = true;
    const batch = this.queue.splice(0, MAX_BATCH);
    let outcomes: Outcome[] | null = null;
    try {
      outcomes = await this.store.transaction((tx) => writeBatch(this.store, tx, batch));
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
    this.running = false;
    if (outcomes) for (const [i, p] of batch.entries()) this.settle(p, outcomes[i]);
    this.schedule();
  }

  private settle(p: Pending, outcome: Outcome | undefined): void {
    if (!outcome || "again" in outcome) {
      this.queue.push(p);
      return;
    }
    if (outcome.ok) p.resolve(outcome.value);
    else p.reject(outcome.err);
  }
}

/** Outcome of `fn` for one claim: its value, or its error (a claim's own failure). */
async function attempt(fn: () => Promise<unknown> | unknown): Promise<Settled> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    return { ok: false, err };
  }
}

/** The window covering every claim's window (open-ended if any is). */
function unionWindow(windows: readonly Window[]): Window {
  let start = windows[0]?.start ?? "";
  let end: string | null = windows[0]?.end ?? null;
  for (const w of windows) {
    if (w.start < start) start = w.start;
    end = end === null || w.end === null ? null : w.end > end ? w.end : end;
  }
  return { start, end };
}

/** One batch inside one transaction (run again from the start if the store retries it). */
async function writeBatch(store: Store, tx: Tx, batch: readonly Pending[]): Promise<Outcome[]> {
  const now = nowIso();
  const outcomes: (Outcome | undefined)[] = new Array(batch.length).fill(undefined);
  const rows = new Map<number, repo.ConsumerRow>();
  batch.forEach((p, i) => {
    try {
      rows.set(i, consumerRow(p.claim.principal, p.claim.write, undefined, now));
    } catch (err) {
      outcomes[i] = { ok: false, err };
    }
  });

  // Two claims of one consumer: the later one waits for the next batch (and conflicts there).
  const consumers = new Set<string>();
  for (const i of rows.keys()) {
    const { consumer } = (batch[i] as Pending).claim.write;
    if (consumers.has(consumer)) outcomes[i] = { again: true };
    consumers.add(consumer);
  }

  // 1. Quotas: the claims whose project limits a class they ask (most have none).
  const limitedProjects = new Set<string>();
  const adding = new Map<number, Map<string, number>>();
  const unlocked = await repo.quotasOfProjects(
    tx,
    [...rows.values()].map((r) => r.project_uuid),
  );
  for (const [i, row] of rows) {
    const asks = amountsByClass((batch[i] as Pending).claim.write);
    if (unlocked.some((q) => q.project_uuid === row.project_uuid && asks.has(q.resource_class))) {
      limitedProjects.add(row.project_uuid);
      adding.set(i, asks);
    }
  }

  // 2. Request ids: a retry answers from its record.
  const open = () => [...rows.keys()].filter((i) => outcomes[i] === undefined);
  const keys = open().map((i) => (batch[i] as Pending).claim.key);
  const won = await claimRequestIds(tx, keys);
  for (const i of open()) {
    const key = (batch[i] as Pending).claim.key;
    if (key.requestId === undefined || won.has(key)) continue;
    const twin = [...won].some(
      (k) => k.requestId === key.requestId && k.accountUuid === key.accountUuid,
    );
    if (twin) outcomes[i] = { again: true };
    else
      outcomes[i] = await attempt(async () => {
        const found = await recordedResult(tx, key);
        if (!found) return undefined;
        return found.result;
      });
    // Gone again (its first run rolled back meanwhile): the next batch runs it.
    const o = outcomes[i];
    if (o && "value" in o && o.value === undefined) outcomes[i] = { again: true };
  }

  // 3–5. Lock the providers, read their inventories and the others' usage.
  const claims = open();
  const providers = new Set<string>();
  const classes = new Set<string>();
  for (const i of claims)
    for (const [u, res] of (batch[i] as Pending).claim.write.allocations) {
      providers.add(u);
      for (const c of Object.keys(res)) classes.add(c);
    }
  const names = await repo.lockedProviderNames(tx, [...providers], store.dialect);
  const inventories = await repo.inventoriesOf(tx, [...providers]);
  const window = unionWindow(claims.map((i) => (batch[i] as Pending).claim.write.window));
  const overlapping =
    claims.length === 0
      ? []
      : await repo.usageOverlapping(tx, [...providers], [...classes], window);
  const usage = usageBook(overlapping.map((a) => allocationRecord({ ...a, consumer_uuid: "" })));
  // The limits again, locked (one may have changed meanwhile), and those projects' usage.
  const limited = claims.some((i) => adding.has(i)) ? [...limitedProjects] : [];
  const limits = await repo.quotasOfProjects(tx, limited, store.dialect);
  const projectUsage = await repo.usageOfProjects(tx, limited, now);

  // Each claim in order, against the others and the claims accepted before it.
  const accepted: number[] = [];
  for (const i of claims) {
    const { write } = (batch[i] as Pending).claim;
    const row = rows.get(i) as repo.ConsumerRow;
    const asks = adding.get(i);
    let used = projectUsage.get(row.project_uuid);
    const checked = await attempt(() => {
      assertCapacity(write, inventories, usage.used);
      if (asks)
        assertQuota(
          limits.filter((q) => q.project_uuid === row.project_uuid),
          used ?? new Map(),
          asks,
        );
    });
    if (!checked.ok) {
      outcomes[i] = checked;
      continue;
    }
    accepted.push(i);
    for (const a of allocationRowsOf(write, row)) usage.add(allocationRecord(a));
    if (asks) {
      if (!used) {
        used = new Map();
        projectUsage.set(row.project_uuid, used);
      }
      for (const [cls, n] of asks) used.set(cls, (used.get(cls) ?? 0) + n);
    }
  }

  // 6–9. The consumers, their rows, the providers' generations and the change log.
  const inserted = await repo.insertConsumersIfNew(
    tx,
    accepted.map((i) => rows.get(i) as repo.ConsumerRow),
  );
  const written: number[] = [];
  for (const i of accepted) {
    const { principal, write } = (batch[i] as Pending).claim;
    if (inserted.has(write.consumer)) {
      written.push(i);
      continue;
    }
    outcomes[i] = await attempt(async () => {
      const existing = await repo.getConsumer(tx, write.consumer);
      if (existing) visibleConsumer(principal, existing, write.consumer);
      throw consumerConflict(write.consumer, null, existing?.generation ?? 1);
    });
  }
  const allocationRows = new Map(
    written.map((i) => [
      i,
      allocationRowsOf((batch[i] as Pending).claim.write, rows.get(i) as repo.ConsumerRow),
    ]),
  );
  await repo.insertAllocations(tx, [...allocationRows.values()].flat());
  const touched = new Map(
    written.map((i) => {
      const { write } = (batch[i] as Pending).claim;
      return [write.consumer, [...write.allocations.keys()]] as const;
    }),
  );
  await repo.bumpLocked(tx, [...touched.values()].flat(), now);
  await appendNewConsumers(store, tx, touched, now);

  // 10. Results, recorded for retries; the request ids of failed claims released.
  const recorded: [IdempotencyKey, unknown][] = [];
  for (const i of written) {
    const p = batch[i] as Pending;
    const result: ClaimResult = {
      consumer: consumerRecord(rows.get(i) as repo.ConsumerRow),
      allocations: await allocationViews(tx, allocationRows.get(i) ?? [], names),
    };
    const value = p.respond(result);
    outcomes[i] = { ok: true, value };
    if (won.has(p.claim.key)) recorded.push([p.claim.key, value]);
  }
  await recordResults(tx, recorded);
  await forgetRequests(
    tx,
    batch
      .map((p, i) => (won.has(p.claim.key) && !written.includes(i) ? p.claim.key : null))
      .filter((k): k is IdempotencyKey => k !== null),
  );
  return outcomes.map((o) => o ?? { again: true });
}

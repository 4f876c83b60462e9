/**
 * Claims: a consumer's whole allocation set written atomically across providers. The database
 * decides: the transaction locks every touched provider (bumping its generation), re-reads the
 * other consumers' allocations overlapping the window and checks capacity, then the project's
 * quota, so concurrent claims never over-commit whatever view of the fleet they started from.
 */
import type { Kysely } from "kysely";
import { MulliganError } from "../platform/errors.js";
import { nowIso } from "../platform/ids.js";
import type { Principal } from "../platform/principal.js";
import type { Database } from "../store/database.js";
import type { Store } from "../store/store.js";
import {
  type AllocationView,
  allocationViews,
  type ConsumerRecord,
  consumerConflict,
  consumerRecord,
  visibleConsumer,
} from "./consumers.js";
import { usageLookup } from "./engine/snapshot.js";
import { capacityOf, fitsUnits, type Window } from "./model.js";
import { checkQuota } from "./quotas.js";
import { appendChanges } from "./repo/changes.js";
import * as repo from "./repo/claims.js";
import { bumpGenerations, inventoryRecord } from "./repo/registry.js";
import { allocationRecord } from "./snapshot-loader.js";

type Db = Kysely<Database>;

/** One provider's part of an allocation set, as the caller wrote it. */
export interface AllocationInput {
  /** Provider name or UUID. */
  provider: string;
  resources: Readonly<Record<string, number>>;
}

/** A decoded Claim request (window start null = the claim time). */
export interface ClaimInput {
  requestId?: string;
  consumer: string;
  consumerGeneration: number | null;
  project?: string;
  user?: string;
  consumerType: string;
  allocations: readonly AllocationInput[];
  window: { start: string | null; end: string | null };
}

/** A consumer after a claim (null after an empty set removed it) and its allocations. */
export interface ClaimResult {
  consumer: ConsumerRecord | null;
  allocations: AllocationView[];
}

/** A claim with everything resolved, ready for writeClaim inside a transaction. */
export interface ClaimWrite {
  consumer: string;
  /** null: the consumer must be new. */
  expectedGeneration: number | null;
  /** null: the existing consumer's, else the token's project. */
  projectUuid: string | null;
  /** null: the existing consumer's, else the caller's account. */
  userUuid: string | null;
  /** "": the existing consumer's. */
  consumerType: string;
  window: Window;
  /** Provider UUID → class → amount. */
  allocations: ReadonlyMap<string, Readonly<Record<string, number>>>;
  /** Provider UUID → field path of its entry, for violations. */
  fields: ReadonlyMap<string, string>;
}

/** The consumer's window: start defaults to the claim time; end must follow start. */
export function claimWindow(w: { start: string | null; end: string | null }, now: string): Window {
  const window = { start: w.start ?? now, end: w.end };
  if (window.end !== null && window.end <= window.start)
    throw MulliganError.invalid("window.end", "WINDOW_INVALID", "must be after the window start");
  return window;
}

/**
 * Replaces a consumer's allocation set inside `tx`: consumer generation, unit constraints,
 * capacity against the other consumers over the window, quota; then the rows, the provider
 * generations and a 'usage' change per touched provider. An empty set removes the consumer.
 */
export async function writeClaim(
  store: Store,
  tx: Db,
  principal: Principal,
  w: ClaimWrite,
): Promise<ClaimResult> {
  const now = nowIso();
  const existing = await repo.getConsumer(tx, w.consumer);
  if (existing) visibleConsumer(principal, existing, w.consumer);
  const old = existing ? await repo.consumerAllocations(tx, existing.uuid) : [];
  const touched = [...new Set([...old.map((a) => a.provider_uuid), ...w.allocations.keys()])];
  await bumpGenerations(tx, touched, now);

  if (w.expectedGeneration === null) {
    if (existing) throw consumerConflict(w.consumer, null, existing.generation);
  } else if (!existing || existing.generation !== w.expectedGeneration) {
    throw consumerConflict(w.consumer, w.expectedGeneration, existing?.generation ?? null);
  }

  if (w.allocations.size === 0) {
    if (existing && !(await repo.deleteConsumer(tx, existing.uuid, existing.generation)))
      throw consumerConflict(w.consumer, w.expectedGeneration, null);
    await appendChanges(store, tx, touched, "usage", now);
    return { consumer: null, allocations: [] };
  }

  const row = consumerRow(principal, w, existing, now);
  if (existing) {
    const { uuid: _u, generation: _g, created_at: _c, ...set } = row;
    if (!(await repo.updateConsumer(tx, existing.uuid, existing.generation, set)))
      throw consumerConflict(w.consumer, w.expectedGeneration, null);
    row.generation = existing.generation + 1;
    await repo.replaceAllocations(tx, w.consumer, []);
  } else {
    try {
      await repo.insertConsumer(tx, row);
    } catch (err) {
      if (store.isUniqueViolation(err)) throw consumerConflict(w.consumer, null, 1);
      throw err;
    }
  }
  return writeAllocations(store, tx, w, row, touched, now);
}

/** The consumer row a claim writes (project and user from the request, else kept, else the caller's). */
export function consumerRow(
  principal: Principal,
  w: ClaimWrite,
  existing: repo.ConsumerRow | undefined,
  now: string,
): repo.ConsumerRow {
  const projectUuid = w.projectUuid ?? existing?.project_uuid ?? principal.projectUuid;
  if (projectUuid === null)
    throw MulliganError.invalid(
      "project",
      "FIELD_REQUIRED",
      "is required with a token without project",
    );
  return {
    uuid: w.consumer,
    project_uuid: projectUuid,
    user_uuid: w.userUuid ?? existing?.user_uuid ?? principal.accountUuid,
    consumer_type: w.consumerType || (existing?.consumer_type ?? ""),
    generation: 1,
    window_start: w.window.start,
    window_end: w.window.end ?? "",
    created_at: existing?.created_at ?? now,
    updated_at: now,
  };
}

/**
 * Capacity and quota checks of a consumer's new set (its old rows already gone), then its
 * allocation rows and a 'usage' change per touched provider.
 */
async function writeAllocations(
  store: Store,
  tx: Db,
  w: ClaimWrite,
  row: repo.ConsumerRow,
  touched: readonly string[],
  now: string,
): Promise<ClaimResult> {
  await checkCapacity(tx, w);
  await checkQuota(tx, row.project_uuid, amountsByClass(w), now);

  const rows = allocationRowsOf(w, row);
  await repo.insertAllocations(tx, rows);
  await appendChanges(store, tx, touched, "usage", now);
  return { consumer: consumerRecord(row), allocations: await allocationViews(tx, rows) };
}

/** What a claim asks in all, per class (what its project's quota is checked against). */
export function amountsByClass(w: Pick<ClaimWrite, "allocations">): Map<string, number> {
  const adding = new Map<string, number>();
  for (const res of w.allocations.values())
    for (const [cls, amount] of Object.entries(res))
      adding.set(cls, (adding.get(cls) ?? 0) + amount);
  return adding;
}

/** The allocation rows of a claim (the window is the consumer row's). */
export function allocationRowsOf(
  w: Pick<ClaimWrite, "consumer" | "allocations">,
  row: repo.ConsumerRow,
): repo.AllocationRow[] {
  const out: repo.AllocationRow[] = [];
  for (const [provider, res] of w.allocations)
    for (const [cls, amount] of Object.entries(res))
      out.push({
        consumer_uuid: w.consumer,
        provider_uuid: provider,
        resource_class: cls,
        amount,
        window_start: row.window_start,
        window_end: row.window_end,
      });
  return out;
}

/** Unit constraints of every amount, then capacity minus the others' peak over the window. */
async function checkCapacity(tx: Db, w: ClaimWrite): Promise<void> {
  const providers = [...w.allocations.keys()];
  const classes = [...new Set([...w.allocations.values()].flatMap((r) => Object.keys(r)))];
  const inventories = await repo.inventoriesOf(tx, providers);
  const others = usageLookup(
    (await repo.usageOverlapping(tx, providers, classes, w.window)).map((a) =>
      allocationRecord({ ...a, consumer_uuid: "" }),
    ),
  );
  assertCapacity(w, inventories, others);
}

/**
 * The capacity rules of a claim, given the inventories of its providers and the others' usage:
 * every amount within min/max/step, and capacity minus the others' peak over the window.
 */
export function assertCapacity(
  w: Pick<ClaimWrite, "allocations" | "fields" | "window">,
  inventories: readonly repo.InventoryRow[],
  others: (provider: string, resourceClass: string, window: Window) => number,
): void {
  for (const [provider, res] of w.allocations) {
    const field = w.fields.get(provider) ?? "allocations";
    for (const [cls, amount] of Object.entries(res)) {
      const path = `${field}.resources[${cls}]`;
      const row = inventories.find((i) => i.provider_uuid === provider && i.resource_class === cls);
      if (!row)
        throw new MulliganError(
          "FAILED_PRECONDITION",
          "INVENTORY_MISSING",
          `provider ${provider} has no inventory of ${cls}`,
          [{ field: path, reason: "INVENTORY_MISSING", description: "no such inventory" }],
        );
      const inv = inventoryRecord(row);
      if (!fitsUnits(inv, amount))
        throw MulliganError.invalid(
          path,
          "UNIT_CONSTRAINT",
          `${amount} must be between ${inv.minUnit} and ${inv.maxUnit} in steps of ${inv.stepSize}`,
        );
      const used = others(provider, cls, w.window);
      const capacity = capacityOf(inv);
      if (used + amount > capacity)
        throw new MulliganError(
          "RESOURCE_EXHAUSTED",
          "CAPACITY_EXCEEDED",
          `provider ${provider}: ${cls} capacity ${capacity}, ${used} in use over the window, ${amount} asked`,
          [],
          { provider_uuid: provider, resource_class: cls },
        );
    }
  }
}

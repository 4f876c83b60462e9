/**
 * The only code of the claim side that touches the resource tables: consumers, allocations,
 * quotas, and the reads the snapshot loader and capacity checks need. Functions
 * take a Kysely handle, so they run on the store or inside a caller's transaction.
 */

import { type ExpressionBuilder, type Kysely, sql } from "kysely";
import type { PageKey } from "../../platform/paging.js";
import type { Database } from "../../store/database.js";
import { afterKey } from "../../store/keyset.js";
import type { Dialect } from "../../store/store.js";
import type { Window } from "../model.js";
import type { ResourceTables } from "../tables.js";

type Db = Kysely<Database>;
export type ProviderRow = ResourceTables["resource_providers"];
export type InventoryRow = ResourceTables["resource_inventories"];
export type ConsumerRow = ResourceTables["resource_consumers"];
export type AllocationRow = ResourceTables["resource_allocations"];
export type QuotaRow = ResourceTables["resource_quotas"];

const lower = (s: string) => s.toLowerCase();

/**
 * Allocations whose window ends after `t` ('' = open-ended): live at `t`, or (with `t` a window
 * start) not ended before that window.
 */
export const endsAfter = (t: string) => (eb: ExpressionBuilder<Database, "resource_allocations">) =>
  eb.or([eb("window_end", "=", ""), eb("window_end", ">", t)]);

/** Everything the snapshot loader reads, in one pass. */
export async function loadSnapshotRows(db: Db, now: string) {
  const [providers, inventories, capabilities, memberships, groups, allocations] =
    await Promise.all([
      db.selectFrom("resource_providers").selectAll().execute(),
      db.selectFrom("resource_inventories").selectAll().execute(),
      db.selectFrom("resource_provider_capabilities").selectAll().execute(),
      db.selectFrom("resource_provider_groups").selectAll().execute(),
      db.selectFrom("resource_groups").selectAll().execute(),
      db.selectFrom("resource_allocations").selectAll().where(endsAfter(now)).execute(),
    ]);
  return { providers, inventories, capabilities, memberships, groups, allocations };
}

/** At most this many values in one IN list (well under SQLite's and PostgreSQL's limits). */
const CHUNK = 500;

async function chunked<T>(
  uuids: readonly string[],
  load: (chunk: string[]) => Promise<T[]>,
): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < uuids.length; i += CHUNK)
    out.push(...(await load(uuids.slice(i, i + CHUNK))));
  return out;
}

/** The UUID of every provider. */
export async function loadProviderUuids(db: Db): Promise<string[]> {
  const rows = await db.selectFrom("resource_providers").select("uuid").execute();
  return rows.map((r) => r.uuid);
}

/** The snapshot rows of some providers (the index's refresh of changed providers). */
export async function loadProviderRows(db: Db, uuids: readonly string[]) {
  const [providers, inventories, capabilities, memberships] = await Promise.all([
    chunked(uuids, (c) =>
      db.selectFrom("resource_providers").selectAll().where("uuid", "in", c).execute(),
    ),
    chunked(uuids, (c) =>
      db.selectFrom("resource_inventories").selectAll().where("provider_uuid", "in", c).execute(),
    ),
    chunked(uuids, (c) =>
      db
        .selectFrom("resource_provider_capabilities")
        .selectAll()
        .where("provider_uuid", "in", c)
        .execute(),
    ),
    chunked(uuids, (c) =>
      db
        .selectFrom("resource_provider_groups")
        .selectAll()
        .where("provider_uuid", "in", c)
        .execute(),
    ),
  ]);
  return { providers, inventories, capabilities, memberships };
}

/** Allocations on some providers not ended at `now`. */
export function loadAllocationRows(db: Db, providers: readonly string[], now: string) {
  return liveAllocationRows(db, "provider_uuid", providers, now);
}

/** Allocations of some consumers not ended at `now`. */
export function loadConsumerAllocationRows(db: Db, consumers: readonly string[], now: string) {
  return liveAllocationRows(db, "consumer_uuid", consumers, now);
}

function liveAllocationRows(
  db: Db,
  by: "provider_uuid" | "consumer_uuid",
  uuids: readonly string[],
  now: string,
): Promise<AllocationRow[]> {
  return chunked(uuids, (c) =>
    db
      .selectFrom("resource_allocations")
      .selectAll()
      .where(by, "in", c)
      .where(endsAfter(now))
      .execute(),
  );
}

/** Groups by UUID. */
export async function loadGroupRows(db: Db, uuids: readonly string[]) {
  return chunked(uuids, (c) =>
    db.selectFrom("resource_groups").selectAll().where("uuid", "in", c).execute(),
  );
}

/** Providers by UUID. */
export async function providersByUuid(db: Db, uuids: readonly string[]): Promise<ProviderRow[]> {
  if (uuids.length === 0) return [];
  return db.selectFrom("resource_providers").selectAll().where("uuid", "in", uuids).execute();
}

/**
 * Locks a project's quota rows of these classes, one at a time in class order (as
 * bumpGenerations locks providers), so concurrent claims queue instead of deadlocking.
 */
export async function lockQuotas(tx: Db, projectUuid: string, classes: readonly string[]) {
  for (const resourceClass of [...new Set(classes)].sort())
    await tx
      .updateTable("resource_quotas")
      .set((eb) => ({ quota_limit: eb.ref("quota_limit") }))
      .where("project_uuid", "=", projectUuid)
      .where("resource_class", "=", resourceClass)
      .execute();
}

/** Inventories of these providers. */
export async function inventoriesOf(db: Db, providers: readonly string[]): Promise<InventoryRow[]> {
  if (providers.length === 0) return [];
  return db
    .selectFrom("resource_inventories")
    .selectAll()
    .where("provider_uuid", "in", providers)
    .execute();
}

/** Allocations on these providers that overlap `window` (touching windows do not). */
export async function allocationsOverlapping(
  db: Db,
  providers: readonly string[],
  window: Window,
): Promise<AllocationRow[]> {
  if (providers.length === 0) return [];
  let q = db
    .selectFrom("resource_allocations")
    .selectAll()
    .where("provider_uuid", "in", providers)
    .where(endsAfter(window.start));
  if (window.end !== null) q = q.where("window_start", "<", window.end);
  return q.execute();
}

/**
 * What a capacity check needs of these providers' allocations of `classes` overlapping
 * `window`, in few rows: one summed row per (provider, class) for the allocations covering the
 * whole window (they count at every instant of it, as one allocation from the window start
 * would), and the others (starting or ending inside the window) row by row.
 */
export async function usageOverlapping(
  db: Db,
  providers: readonly string[],
  classes: readonly string[],
  window: Window,
): Promise<Omit<AllocationRow, "consumer_uuid">[]> {
  if (providers.length === 0 || classes.length === 0) return [];
  const overlapping = db
    .selectFrom("resource_allocations")
    .where("provider_uuid", "in", providers)
    .where("resource_class", "in", classes)
    .where(endsAfter(window.start))
    .$if(window.end !== null, (q) => q.where("window_start", "<", window.end as string));
  const end = window.end;
  const covers = (eb: ExpressionBuilder<Database, "resource_allocations">) =>
    eb.and([
      eb("window_start", "<=", window.start),
      end === null
        ? eb("window_end", "=", "")
        : eb.or([eb("window_end", "=", ""), eb("window_end", ">=", end)]),
    ]);
  const rows = await overlapping
    .where(covers)
    .select((eb) => [
      "provider_uuid",
      "resource_class",
      eb.fn.sum<number | string>("amount").as("amount"),
      sql<string>`cast(${window.start} as text)`.as("window_start"),
      sql<string>`cast('' as text)`.as("window_end"),
    ])
    .groupBy(["provider_uuid", "resource_class"])
    .unionAll(
      overlapping
        .where((eb) => eb.not(covers(eb)))
        .select(["provider_uuid", "resource_class", "amount", "window_start", "window_end"]),
    )
    .execute();
  return rows.map((r) => ({ ...r, amount: Number(r.amount) }));
}

export async function getConsumer(db: Db, uuid: string): Promise<ConsumerRow | undefined> {
  return db
    .selectFrom("resource_consumers")
    .selectAll()
    .where("uuid", "=", lower(uuid))
    .executeTakeFirst();
}

export async function consumerAllocations(db: Db, uuid: string): Promise<AllocationRow[]> {
  return db
    .selectFrom("resource_allocations")
    .selectAll()
    .where("consumer_uuid", "=", uuid)
    .orderBy("provider_uuid")
    .orderBy("resource_class")
    .execute();
}

/** Allocations of many consumers. */
export async function allocationsOfConsumers(db: Db, uuids: readonly string[]) {
  if (uuids.length === 0) return [];
  return db
    .selectFrom("resource_allocations")
    .selectAll()
    .where("consumer_uuid", "in", uuids)
    .execute();
}

export async function consumersByUuid(db: Db, uuids: readonly string[]): Promise<ConsumerRow[]> {
  if (uuids.length === 0) return [];
  return db.selectFrom("resource_consumers").selectAll().where("uuid", "in", uuids).execute();
}

export async function insertConsumer(tx: Db, row: ConsumerRow): Promise<void> {
  await tx.insertInto("resource_consumers").values(row).execute();
}

/** Compare-and-swap on the consumer generation; false if it moved on. */
export async function updateConsumer(
  tx: Db,
  uuid: string,
  expected: number,
  set: Partial<ConsumerRow>,
): Promise<boolean> {
  const res = await tx
    .updateTable("resource_consumers")
    .set({ ...set, generation: expected + 1 })
    .where("uuid", "=", uuid)
    .where("generation", "=", expected)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Deletes a consumer at an expected generation with its allocations; false if it moved on. */
export async function deleteConsumer(tx: Db, uuid: string, expected: number): Promise<boolean> {
  const res = await tx
    .deleteFrom("resource_consumers")
    .where("uuid", "=", uuid)
    .where("generation", "=", expected)
    .executeTakeFirst();
  await tx.deleteFrom("resource_allocations").where("consumer_uuid", "=", uuid).execute();
  return Number(res.numDeletedRows) === 1;
}

/** Replaces a consumer's allocation rows. */
export async function replaceAllocations(tx: Db, consumer: string, rows: AllocationRow[]) {
  await tx.deleteFrom("resource_allocations").where("consumer_uuid", "=", consumer).execute();
  await insertAllocations(tx, rows);
}

/** Adds allocation rows (a consumer's whose old rows are gone or never were). */
export async function insertAllocations(tx: Db, rows: AllocationRow[]) {
  if (rows.length > 0) await tx.insertInto("resource_allocations").values(rows).execute();
}

/** What a usage query counts: a project's consumers, optionally one user or consumer type. */
export interface UsageFilter {
  projectUuid: string;
  userUuid?: string;
  consumerType?: string;
  /** Only allocations not ended at this instant. */
  now: string;
}

/** Allocations (`a`) not ended at `now`, each with its consumer (`c`): what usage counts. */
function liveAllocationsWithConsumers(db: Db, now: string) {
  return db
    .selectFrom("resource_allocations as a")
    .innerJoin("resource_consumers as c", "c.uuid", "a.consumer_uuid")
    .where((eb) => eb.or([eb("a.window_end", "=", ""), eb("a.window_end", ">", now)]));
}

/** Sum per class of the allocations matched by the filter. */
export async function projectUsage(db: Db, f: UsageFilter): Promise<Map<string, number>> {
  let q = liveAllocationsWithConsumers(db, f.now)
    .select((eb) => ["a.resource_class", eb.fn.sum<number | string>("a.amount").as("used")])
    .where("c.project_uuid", "=", f.projectUuid)
    .groupBy("a.resource_class");
  if (f.userUuid !== undefined) q = q.where("c.user_uuid", "=", f.userUuid);
  if (f.consumerType !== undefined) q = q.where("c.consumer_type", "=", f.consumerType);
  const rows = await q.execute();
  return new Map(rows.map((r) => [r.resource_class, Number(r.used)]));
}

/** Consumers matched by the filter whose allocations have not ended. */
export async function countConsumers(db: Db, f: UsageFilter): Promise<number> {
  let q = db
    .selectFrom("resource_consumers as c")
    .select((eb) => eb.fn.countAll<number | string>().as("n"))
    .where("c.project_uuid", "=", f.projectUuid)
    .where((eb) => eb.or([eb("c.window_end", "=", ""), eb("c.window_end", ">", f.now)]));
  if (f.userUuid !== undefined) q = q.where("c.user_uuid", "=", f.userUuid);
  if (f.consumerType !== undefined) q = q.where("c.consumer_type", "=", f.consumerType);
  return Number((await q.executeTakeFirst())?.n ?? 0);
}

export async function quotasOf(db: Db, projectUuid: string): Promise<QuotaRow[]> {
  return db
    .selectFrom("resource_quotas")
    .selectAll()
    .where("project_uuid", "=", projectUuid)
    .orderBy("resource_class")
    .execute();
}

/** Sets (limit ≥ 0) or removes (null) a project's limit for one class. */
export async function writeQuota(tx: Db, project: string, cls: string, limit: number | null) {
  await tx
    .deleteFrom("resource_quotas")
    .where("project_uuid", "=", project)
    .where("resource_class", "=", cls)
    .execute();
  if (limit !== null)
    await tx
      .insertInto("resource_quotas")
      .values({ project_uuid: project, resource_class: cls, quota_limit: limit })
      .execute();
}

/**
 * One page of the consumers holding allocations on a provider that overlap `window`, ordered
 * by (window_start, consumer UUID); fetch pageSize + 1 rows.
 */
export async function providerConsumerPage(
  db: Db,
  provider: string,
  window: Window,
  after: PageKey | undefined,
  limit: number,
): Promise<{ consumer_uuid: string; window_start: string }[]> {
  let q = db
    .selectFrom("resource_allocations")
    .select(["consumer_uuid", "window_start"])
    .distinct()
    .where("provider_uuid", "=", provider)
    .where(endsAfter(window.start));
  if (window.end !== null) q = q.where("window_start", "<", window.end);
  if (after) q = q.where(afterKey("window_start", "consumer_uuid", after));
  return q.orderBy("window_start").orderBy("consumer_uuid").limit(limit).execute();
}

/**
 * Names of these providers (absent: gone), read in UUID order; on PostgreSQL the rows are
 * locked FOR UPDATE in that order, so batches that lock overlapping providers never deadlock.
 * (SQLite's writer holds the whole database already.)
 */
export async function lockedProviderNames(
  tx: Db,
  uuids: readonly string[],
  dialect: Dialect,
): Promise<Map<string, string>> {
  if (uuids.length === 0) return new Map();
  const q = tx
    .selectFrom("resource_providers")
    .select(["uuid", "name"])
    .where("uuid", "in", [...new Set(uuids)])
    .orderBy("uuid");
  const rows = await (dialect === "postgres" ? q.forUpdate() : q).execute();
  return new Map(rows.map((r) => [r.uuid, r.name]));
}

/** Bumps the generations of providers the caller has locked, in one statement. */
export async function bumpLocked(tx: Db, uuids: readonly string[], at: string): Promise<void> {
  if (uuids.length === 0) return;
  await tx
    .updateTable("resource_providers")
    .set((eb) => ({ updated_at: at, generation: eb("generation", "+", 1) }))
    .where("uuid", "in", [...new Set(uuids)])
    .execute();
}

/**
 * Inserts the consumers whose UUID is new, in one statement (nothing is written for one that
 * exists); returns the UUIDs inserted.
 */
export async function insertConsumersIfNew(
  tx: Db,
  rows: readonly ConsumerRow[],
): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const inserted = await tx
    .insertInto("resource_consumers")
    .values([...rows])
    .onConflict((oc) => oc.column("uuid").doNothing())
    .returning("uuid")
    .execute();
  return new Set(inserted.map((r) => r.uuid));
}

/**
 * Quotas of several projects, in (project, class) order; with `lockAs` "postgres" the rows are
 * locked FOR UPDATE in that order (lockQuotas locks one project's in class order, so the two
 * never deadlock; both lock their providers first). SQLite's writer holds the database already.
 */
export async function quotasOfProjects(
  db: Db,
  projects: readonly string[],
  lockAs?: Dialect,
): Promise<QuotaRow[]> {
  if (projects.length === 0) return [];
  const q = db
    .selectFrom("resource_quotas")
    .selectAll()
    .where("project_uuid", "in", [...new Set(projects)])
    .orderBy("project_uuid")
    .orderBy("resource_class");
  return (lockAs === "postgres" ? q.forUpdate() : q).execute();
}

/** Per project, the sum per class of its allocations not ended at `now` (as projectUsage). */
export async function usageOfProjects(
  db: Db,
  projects: readonly string[],
  now: string,
): Promise<Map<string, Map<string, number>>> {
  const out = new Map<string, Map<string, number>>();
  if (projects.length === 0) return out;
  const rows = await liveAllocationsWithConsumers(db, now)
    .select((eb) => [
      "c.project_uuid",
      "a.resource_class",
      eb.fn.sum<number | string>("a.amount").as("used"),
    ])
    .where("c.project_uuid", "in", [...new Set(projects)])
    .groupBy(["c.project_uuid", "a.resource_class"])
    .execute();
  for (const r of rows) {
    const used = out.get(r.project_uuid) ?? new Map<string, number>();
    used.set(r.resource_class, Number(r.used));
    out.set(r.project_uuid, used);
  }
  return out;
}

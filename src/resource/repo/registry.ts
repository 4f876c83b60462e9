/**
 * The registry's SQL: providers, inventories, provider capabilities and groups (the change log
 * is in changes.ts, custom names and groups in vocabulary.ts). Functions take a Kysely handle
 * so they run on the store or inside a caller's transaction. Lists fetch `limit` rows (callers
 * pass pageSize + 1) after a (name, uuid) key.
 */

import { type Kysely, sql } from "kysely";
import { isUuid } from "../../platform/validate.js";
import type { Database } from "../../store/database.js";
import { afterKey, type Window } from "../../store/keyset.js";
import type { InventoryRecord } from "../model.js";
import type { ResourceTables } from "../tables.js";

type Db = Kysely<Database>;

/** Where a keyset page starts and how many rows to fetch (one shape for every part). */
export type { Window };

/** A stored provider (parent_uuid '' for a root). */
export type ProviderTable = ResourceTables["resource_providers"];

/** A provider row with its parent's and root's names. */
export type ProviderRow = ProviderTable & { parent_name: string | null; root_name: string };

function providers(db: Db) {
  return db
    .selectFrom("resource_providers as p")
    .leftJoin("resource_providers as pp", "pp.uuid", "p.parent_uuid")
    .innerJoin("resource_providers as rp", "rp.uuid", "p.root_uuid")
    .selectAll("p")
    .select(["pp.name as parent_name", "rp.name as root_name"]);
}

/** A provider by UUID or name. */
export async function findProviderRow(db: Db, ref: string): Promise<ProviderRow | undefined> {
  const byUuid = isUuid(ref)
    ? await providers(db).where("p.uuid", "=", ref.toLowerCase()).executeTakeFirst()
    : undefined;
  return byUuid ?? (await providers(db).where("p.name", "=", ref).executeTakeFirst());
}

/** The UUID of the provider with this exact name. */
export async function providerUuidByName(db: Db, name: string): Promise<string | undefined> {
  const row = await db
    .selectFrom("resource_providers")
    .select("uuid")
    .where("name", "=", name)
    .executeTakeFirst();
  return row?.uuid;
}

/** What ListProviders filters by (already resolved to UUIDs). */
export interface ProviderFilter {
  regionUuids?: readonly string[];
  rootUuid?: string;
  capabilities: readonly string[];
  groupUuid?: string;
  namePrefix?: string;
}

/** A page of providers by (name, uuid). */
export async function listProviderRows(
  db: Db,
  f: ProviderFilter,
  w: Window,
): Promise<ProviderRow[]> {
  let q = providers(db);
  if (f.regionUuids) {
    if (f.regionUuids.length === 0) return [];
    q = q.where("p.region_uuid", "in", f.regionUuids);
  }
  if (f.rootUuid) q = q.where("p.root_uuid", "=", f.rootUuid);
  for (const name of f.capabilities)
    q = q.where("p.uuid", "in", (eb) =>
      eb
        .selectFrom("resource_provider_capabilities")
        .select("provider_uuid")
        .where("capability", "=", name),
    );
  const group = f.groupUuid;
  if (group)
    q = q.where("p.uuid", "in", (eb) =>
      eb
        .selectFrom("resource_provider_groups")
        .select("provider_uuid")
        .where("group_uuid", "=", group),
    );
  if (f.namePrefix) q = q.where(sql`substr(p.name, 1, ${f.namePrefix.length})`, "=", f.namePrefix);
  const after = w.after;
  if (after) q = q.where(afterKey("p.name", "p.uuid", after));
  return q.orderBy("p.name").orderBy("p.uuid").limit(w.limit).execute();
}

/** Stores a new provider (unique keys catch a racing twin). */
export async function insertProvider(db: Db, row: ProviderTable): Promise<void> {
  await db.insertInto("resource_providers").values(row).execute();
}

/**
 * Compare-and-swap on the provider's generation: applies `patch`, bumps the generation and
 * returns true only if the stored generation is still `expected`.
 */
export async function bumpProvider(
  db: Db,
  uuid: string,
  expected: number,
  at: string,
  patch: Partial<Pick<ProviderTable, "name" | "parent_uuid" | "root_uuid" | "region_uuid">> = {},
): Promise<boolean> {
  const res = await db
    .updateTable("resource_providers")
    .set((eb) => ({ ...patch, updated_at: at, generation: eb("generation", "+", 1) }))
    .where("uuid", "=", uuid)
    .where("generation", "=", expected)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/**
 * Bumps the generation of every provider (applying `patch`), one row at a time in UUID order.
 * On PostgreSQL each update takes the row lock that serializes writers of that provider (claims
 * lock the providers they touch this way); the stable order avoids deadlocks between them.
 */
export async function bumpGenerations(
  db: Db,
  uuids: readonly string[],
  at: string,
  patch: Partial<Pick<ProviderTable, "root_uuid" | "region_uuid">> = {},
): Promise<void> {
  for (const uuid of [...new Set(uuids)].sort())
    await db
      .updateTable("resource_providers")
      .set((eb) => ({ ...patch, updated_at: at, generation: eb("generation", "+", 1) }))
      .where("uuid", "=", uuid)
      .execute();
}

/** The (uuid, parent) links of one tree. */
export async function treeLinks(
  db: Db,
  rootUuid: string,
): Promise<{ uuid: string; parent_uuid: string }[]> {
  return db
    .selectFrom("resource_providers")
    .select(["uuid", "parent_uuid"])
    .where("root_uuid", "=", rootUuid)
    .execute();
}

/** True if any provider has this one as its parent. */
export async function hasChildren(db: Db, uuid: string): Promise<boolean> {
  const row = await db
    .selectFrom("resource_providers")
    .select("uuid")
    .where("parent_uuid", "=", uuid)
    .executeTakeFirst();
  return row !== undefined;
}

/** True if any allocation (past, current or future) is held on the provider. */
export async function hasAllocations(db: Db, uuid: string): Promise<boolean> {
  const row = await db
    .selectFrom("resource_allocations")
    .select("consumer_uuid")
    .where("provider_uuid", "=", uuid)
    .executeTakeFirst();
  return row !== undefined;
}

/** Deletes a provider with its inventories, capabilities and group memberships. */
export async function deleteProvider(db: Db, uuid: string): Promise<void> {
  await db.deleteFrom("resource_inventories").where("provider_uuid", "=", uuid).execute();
  await db.deleteFrom("resource_provider_capabilities").where("provider_uuid", "=", uuid).execute();
  await db.deleteFrom("resource_provider_groups").where("provider_uuid", "=", uuid).execute();
  await db.deleteFrom("resource_providers").where("uuid", "=", uuid).execute();
}

/** The sorted capabilities of each provider. */
export async function capabilitiesOf(
  db: Db,
  uuids: readonly string[],
): Promise<Map<string, string[]>> {
  const map = new Map<string, string[]>(uuids.map((u) => [u, []]));
  if (uuids.length === 0) return map;
  const rows = await db
    .selectFrom("resource_provider_capabilities")
    .select(["provider_uuid", "capability"])
    .where("provider_uuid", "in", uuids)
    .execute();
  for (const r of rows) map.get(r.provider_uuid)?.push(r.capability);
  for (const list of map.values()) list.sort();
  return map;
}

/** The sorted group names of each provider. */
export async function groupNamesOf(
  db: Db,
  uuids: readonly string[],
): Promise<Map<string, string[]>> {
  const map = new Map<string, string[]>(uuids.map((u) => [u, []]));
  if (uuids.length === 0) return map;
  const rows = await db
    .selectFrom("resource_provider_groups as pg")
    .innerJoin("resource_groups as g", "g.uuid", "pg.group_uuid")
    .select(["pg.provider_uuid", "g.name"])
    .where("pg.provider_uuid", "in", uuids)
    .execute();
  for (const r of rows) map.get(r.provider_uuid)?.push(r.name);
  for (const list of map.values()) list.sort();
  return map;
}

/** Replaces the capability set of one provider. */
export async function replaceCapabilities(db: Db, uuid: string, names: readonly string[]) {
  await db.deleteFrom("resource_provider_capabilities").where("provider_uuid", "=", uuid).execute();
  if (names.length > 0)
    await db
      .insertInto("resource_provider_capabilities")
      .values(names.map((capability) => ({ provider_uuid: uuid, capability })))
      .execute();
}

/** Replaces the group memberships of one provider. */
export async function replaceGroups(db: Db, uuid: string, groupUuids: readonly string[]) {
  await db.deleteFrom("resource_provider_groups").where("provider_uuid", "=", uuid).execute();
  if (groupUuids.length > 0)
    await db
      .insertInto("resource_provider_groups")
      .values(groupUuids.map((group_uuid) => ({ provider_uuid: uuid, group_uuid })))
      .execute();
}

/** One stored inventory of one provider. */
export type InventoryRow = ResourceTables["resource_inventories"];

/** A provider's inventories, by class. */
export async function inventoryRows(db: Db, uuid: string): Promise<InventoryRow[]> {
  return db
    .selectFrom("resource_inventories")
    .selectAll()
    .where("provider_uuid", "=", uuid)
    .orderBy("resource_class")
    .execute();
}

/** A stored inventory as the domain and the engine see it. */
export function inventoryRecord(row: InventoryRow): InventoryRecord {
  return {
    resourceClass: row.resource_class,
    total: Number(row.total),
    reserved: Number(row.reserved),
    minUnit: Number(row.min_unit),
    maxUnit: Number(row.max_unit),
    stepSize: Number(row.step_size),
    allocationRatio: Number(row.allocation_ratio),
  };
}

/** Replaces the whole inventory of one provider. */
export async function replaceInventories(
  db: Db,
  uuid: string,
  inventories: readonly InventoryRecord[],
): Promise<void> {
  await db.deleteFrom("resource_inventories").where("provider_uuid", "=", uuid).execute();
  if (inventories.length > 0)
    await db
      .insertInto("resource_inventories")
      .values(
        inventories.map((inv) => ({
          provider_uuid: uuid,
          resource_class: inv.resourceClass,
          total: inv.total,
          reserved: inv.reserved,
          min_unit: inv.minUnit,
          max_unit: inv.maxUnit,
          step_size: inv.stepSize,
          allocation_ratio: inv.allocationRatio,
        })),
      )
      .execute();
}

/** One allocation row (the claims part writes them; the registry reads them). */
export type AllocationRow = ResourceTables["resource_allocations"];

/** The allocations on a provider that have not ended by `at` (current and future ones). */
export async function liveAllocations(db: Db, uuid: string, at: string): Promise<AllocationRow[]> {
  return db
    .selectFrom("resource_allocations")
    .selectAll()
    .where("provider_uuid", "=", uuid)
    .where((eb) => eb.or([eb("window_end", "=", ""), eb("window_end", ">", at)]))
    .execute();
}

/** The classes of which the provider holds any allocation. */
export async function allocatedClasses(db: Db, uuid: string): Promise<Set<string>> {
  const rows = await db
    .selectFrom("resource_allocations")
    .select("resource_class")
    .distinct()
    .where("provider_uuid", "=", uuid)
    .execute();
  return new Set(rows.map((r) => r.resource_class));
}

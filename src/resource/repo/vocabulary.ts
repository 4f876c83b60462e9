/**
 * The registry's vocabulary in SQL: CUSTOM_* resource classes and capabilities (with the checks
 * of whether anything uses one) and provider groups. Functions take a Kysely handle so they
 * run on the store or inside a caller's transaction.
 */

import type { Kysely } from "kysely";
import { isUuid } from "../../platform/validate.js";
import type { Database } from "../../store/database.js";
import { afterKey } from "../../store/keyset.js";
import type { ResourceTables } from "../tables.js";
import type { Window } from "./registry.js";

type Db = Kysely<Database>;

/** The tables that hold CUSTOM_* names. */
export type NameTable = "resource_classes" | "resource_capabilities";

/** Every stored custom name of a table, sorted. */
export async function customNames(db: Db, table: NameTable): Promise<string[]> {
  const rows = await db.selectFrom(table).select("name").orderBy("name").execute();
  return rows.map((r) => r.name);
}

/** The names among `names` that are stored in the table. */
export async function storedNames(
  db: Db,
  table: NameTable,
  names: readonly string[],
): Promise<Set<string>> {
  if (names.length === 0) return new Set();
  const rows = await db.selectFrom(table).select("name").where("name", "in", names).execute();
  return new Set(rows.map((r) => r.name));
}

/** Stores a custom name (a unique key catches a racing twin). */
export async function insertName(db: Db, table: NameTable, name: string, at: string) {
  await db.insertInto(table).values({ name, created_at: at }).execute();
}

/** Forgets a custom name (the caller checked nothing uses it). */
export async function deleteName(db: Db, table: NameTable, name: string) {
  await db.deleteFrom(table).where("name", "=", name).execute();
}

/** True if an inventory or an allocation uses the resource class. */
export async function classInUse(db: Db, name: string): Promise<boolean> {
  const inv = await db
    .selectFrom("resource_inventories")
    .select("provider_uuid")
    .where("resource_class", "=", name)
    .executeTakeFirst();
  if (inv) return true;
  const alloc = await db
    .selectFrom("resource_allocations")
    .select("provider_uuid")
    .where("resource_class", "=", name)
    .executeTakeFirst();
  return alloc !== undefined;
}

/** True if any provider has the capability. */
export async function capabilityInUse(db: Db, name: string): Promise<boolean> {
  const row = await db
    .selectFrom("resource_provider_capabilities")
    .select("provider_uuid")
    .where("capability", "=", name)
    .executeTakeFirst();
  return row !== undefined;
}

/** A stored provider group (level '' for a plain one). */
export type GroupRow = ResourceTables["resource_groups"];

/** Stores a group (a unique name catches a racing twin). */
export async function insertGroup(db: Db, row: GroupRow): Promise<void> {
  await db.insertInto("resource_groups").values(row).execute();
}

/** Groups whose UUID or name is one of `refs`. */
export async function groupRowsByRef(db: Db, refs: readonly string[]): Promise<GroupRow[]> {
  if (refs.length === 0) return [];
  const uuids = refs.filter(isUuid).map((r) => r.toLowerCase());
  return db
    .selectFrom("resource_groups")
    .selectAll()
    .where((eb) =>
      uuids.length > 0
        ? eb.or([eb("uuid", "in", uuids), eb("name", "in", [...refs])])
        : eb("name", "in", [...refs]),
    )
    .execute();
}

/** A page of groups by (name, uuid). */
export async function listGroupRows(db: Db, w: Window): Promise<GroupRow[]> {
  let q = db.selectFrom("resource_groups").selectAll();
  const after = w.after;
  if (after) q = q.where(afterKey("name", "uuid", after));
  return q.orderBy("name").orderBy("uuid").limit(w.limit).execute();
}

/**
 * The only code that touches the meta tables. Functions take a Kysely handle, so they run on
 * the store or inside a caller's transaction. Lists use keyset pagination: they fetch `limit`
 * rows, the caller passes pageSize + 1. Tenancy is applied in SQL through an ObjectScope.
 */
import { type Kysely, type RawBuilder, type SqlBool, sql } from "kysely";
import { isUuid } from "../platform/validate.js";
import type { Database } from "../store/database.js";
import { afterKey, type Window } from "../store/keyset.js";
import type { MetaObjectsTable, MetaPropertyDefinitionsTable, MetaRegionsTable } from "./tables.js";

type Db = Kysely<Database>;

/**
 * The objects a query may return: every object, or those owned by `projects` ('' stands for
 * fleet objects) plus, if `externalRegions`, regions of EXTERNAL visibility.
 */
export type ObjectScope =
  | { all: true }
  | { all: false; projects: readonly string[]; externalRegions: boolean };

/** An object row with its region's name. */
export type ObjectRow = MetaObjectsTable & { region_name: string | null };

/** What FindObjects filters by; properties are (key, canonical JSON value) pairs. */
export interface ObjectFilter {
  kind?: string;
  projectUuid?: string;
  regionUuid?: string;
  tags: readonly string[];
  properties: readonly (readonly [string, string])[];
  namePrefix?: string;
}

function visible(scope: ObjectScope): RawBuilder<SqlBool> {
  if (scope.all) return sql<SqlBool>`1 = 1`;
  const parts: RawBuilder<unknown>[] = [];
  if (scope.projects.length > 0) parts.push(sql`o.project_uuid in (${sql.join(scope.projects)})`);
  if (scope.externalRegions)
    parts.push(
      sql`(o.kind = 'region' and o.uuid in (select uuid from meta_regions where visibility = 'external'))`,
    );
  return parts.length === 0 ? sql<SqlBool>`1 = 0` : sql<SqlBool>`(${sql.join(parts, sql` or `)})`;
}

function objects(db: Db, scope: ObjectScope) {
  return db
    .selectFrom("meta_objects as o")
    .leftJoin("meta_objects as r", "r.uuid", "o.region_uuid")
    .selectAll("o")
    .select("r.name as region_name")
    .where(visible(scope));
}

/** Inserts an object row; unique keys catch a racing twin. */
export async function insertObject(db: Db, row: MetaObjectsTable): Promise<void> {
  await db.insertInto("meta_objects").values(row).execute();
}

/** Patches an object row (never its identity or owner). */
export async function updateObjectRow(
  db: Db,
  uuid: string,
  patch: Partial<Omit<MetaObjectsTable, "uuid" | "kind" | "project_uuid" | "created_at">>,
): Promise<void> {
  await db.updateTable("meta_objects").set(patch).where("uuid", "=", uuid).execute();
}

/** Deletes an object; its tags, property index rows and region row go with it (cascade). */
export async function deleteObjectRow(db: Db, uuid: string): Promise<void> {
  await db.deleteFrom("meta_objects").where("uuid", "=", uuid).execute();
}

/** True if another object of the kind in the project has this name or slug. */
export async function nameTaken(
  db: Db,
  key: { kind: string; projectUuid: string; name: string; slug: string },
  exceptUuid?: string,
): Promise<boolean> {
  let q = db
    .selectFrom("meta_objects")
    .select("uuid")
    .where("kind", "=", key.kind)
    .where("project_uuid", "=", key.projectUuid)
    .where((eb) => eb.or([eb("name", "=", key.name), eb("slug", "=", key.slug)]));
  if (exceptUuid) q = q.where("uuid", "!=", exceptUuid);
  return (await q.executeTakeFirst()) !== undefined;
}

/** Objects by UUID within a scope (one query for a whole batch). */
export async function objectRowsByUuid(
  db: Db,
  uuids: readonly string[],
  scope: ObjectScope,
): Promise<ObjectRow[]> {
  if (uuids.length === 0) return [];
  return objects(db, scope).where("o.uuid", "in", uuids).execute();
}

/** Objects whose name or slug is one of `refs`, optionally of one kind and in some projects. */
export async function objectRowsByName(
  db: Db,
  refs: readonly string[],
  kind: string | undefined,
  scope: ObjectScope,
): Promise<ObjectRow[]> {
  if (refs.length === 0) return [];
  let q = objects(db, scope).where((eb) =>
    eb.or([eb("o.name", "in", refs), eb("o.slug", "in", refs)]),
  );
  if (kind) q = q.where("o.kind", "=", kind);
  return q.execute();
}

/** A page of objects by (name, uuid), filtered by `f`, within `scope`. */
export async function findObjectRows(
  db: Db,
  f: ObjectFilter,
  scope: ObjectScope,
  w: Window,
): Promise<ObjectRow[]> {
  let q = objects(db, scope);
  if (f.kind) q = q.where("o.kind", "=", f.kind);
  if (f.projectUuid !== undefined) q = q.where("o.project_uuid", "=", f.projectUuid);
  if (f.regionUuid) q = q.where("o.region_uuid", "=", f.regionUuid);
  if (f.namePrefix) q = q.where(sql`substr(o.name, 1, ${f.namePrefix.length})`, "=", f.namePrefix);
  for (const tag of f.tags)
    q = q.where("o.uuid", "in", (eb) =>
      eb.selectFrom("meta_tags").select("object_uuid").where("tag", "=", tag),
    );
  for (const [key, value] of f.properties)
    q = q.where("o.uuid", "in", (eb) =>
      eb
        .selectFrom("meta_object_properties")
        .select("object_uuid")
        .where("key", "=", key)
        .where("value", "=", value),
    );
  if (w.after) q = q.where(afterKey("o.name", "o.uuid", w.after));
  return q.orderBy("o.name").orderBy("o.uuid").limit(w.limit).execute();
}

/** The sorted tags of each object. */
export async function tagsOf(db: Db, uuids: readonly string[]): Promise<Map<string, string[]>> {
  const map = new Map<string, string[]>(uuids.map((u) => [u, []]));
  if (uuids.length === 0) return map;
  const rows = await db
    .selectFrom("meta_tags")
    .select(["object_uuid", "tag"])
    .where("object_uuid", "in", uuids)
    .orderBy("tag")
    .execute();
  for (const r of rows) map.get(r.object_uuid)?.push(r.tag);
  for (const list of map.values()) list.sort();
  return map;
}

/** Replaces the tags of one object. */
export async function replaceTags(db: Db, uuid: string, tags: readonly string[]): Promise<void> {
  await db.deleteFrom("meta_tags").where("object_uuid", "=", uuid).execute();
  if (tags.length > 0)
    await db
      .insertInto("meta_tags")
      .values(tags.map((tag) => ({ object_uuid: uuid, tag })))
      .execute();
}

/** Stores an object's properties: the JSON document and one index row per key. */
export async function replaceProperties(
  db: Db,
  object: { uuid: string; kind: string },
  values: readonly (readonly [string, string])[],
): Promise<void> {
  await db.deleteFrom("meta_object_properties").where("object_uuid", "=", object.uuid).execute();
  if (values.length > 0)
    await db
      .insertInto("meta_object_properties")
      .values(
        values.map(([key, value]) => ({ object_uuid: object.uuid, kind: object.kind, key, value })),
      )
      .execute();
}

/** A region row: its object's name and times, its attributes, and its parent's name. */
export type RegionRow = MetaRegionsTable & {
  name: string;
  slug: string;
  created_at: string;
  updated_at: string;
  parent_name: string | null;
  parent_visibility: string | null;
};

function regions(db: Db, externalOnly: boolean) {
  let q = db
    .selectFrom("meta_regions as g")
    .innerJoin("meta_objects as o", "o.uuid", "g.uuid")
    .leftJoin("meta_objects as po", "po.uuid", "g.parent_uuid")
    .leftJoin("meta_regions as pg", "pg.uuid", "g.parent_uuid")
    .selectAll("g")
    .select([
      "o.name",
      "o.slug",
      "o.created_at",
      "o.updated_at",
      "po.name as parent_name",
      "pg.visibility as parent_visibility",
    ]);
  if (externalOnly) q = q.where("g.visibility", "=", "external");
  return q;
}

/** Inserts the region attributes of a region object. */
export async function insertRegion(db: Db, row: MetaRegionsTable): Promise<void> {
  await db.insertInto("meta_regions").values(row).execute();
}

/** Patches region attributes; an empty patch does nothing. */
export async function updateRegionRow(
  db: Db,
  uuid: string,
  patch: Partial<Omit<MetaRegionsTable, "uuid">>,
): Promise<void> {
  if (Object.keys(patch).length > 0)
    await db.updateTable("meta_regions").set(patch).where("uuid", "=", uuid).execute();
}

/** A region by UUID, name or slug; with `externalOnly`, only an EXTERNAL one. */
export async function findRegionRow(
  db: Db,
  ref: string,
  externalOnly: boolean,
): Promise<RegionRow | undefined> {
  const byUuid = isUuid(ref)
    ? await regions(db, externalOnly).where("g.uuid", "=", ref.toLowerCase()).executeTakeFirst()
    : undefined;
  return (
    byUuid ??
    (await regions(db, externalOnly)
      .where((eb) => eb.or([eb("o.name", "=", ref), eb("o.slug", "=", ref)]))
      .executeTakeFirst())
  );
}

/** A page of regions by (name, uuid), optionally children of one. */
export async function listRegionRows(
  db: Db,
  filter: { parentUuid?: string; externalOnly: boolean },
  w: Window,
): Promise<RegionRow[]> {
  let q = regions(db, filter.externalOnly);
  if (filter.parentUuid) q = q.where("g.parent_uuid", "=", filter.parentUuid);
  if (w.after) q = q.where(afterKey("o.name", "o.uuid", w.after));
  return q.orderBy("o.name").orderBy("o.uuid").limit(w.limit).execute();
}

/** The parent of a region (undefined for a top-level one). */
export async function parentOf(db: Db, uuid: string): Promise<string | undefined> {
  const row = await db
    .selectFrom("meta_regions")
    .select("parent_uuid")
    .where("uuid", "=", uuid)
    .executeTakeFirst();
  return row?.parent_uuid ?? undefined;
}

/** True if any object (child regions included) lies in the region. */
export async function regionHasObjects(db: Db, uuid: string): Promise<boolean> {
  const row = await db
    .selectFrom("meta_objects")
    .select("uuid")
    .where("region_uuid", "=", uuid)
    .executeTakeFirst();
  return row !== undefined;
}

/** The definitions of some keys of one kind (one query). */
export async function findDefinitionRows(
  db: Db,
  kind: string,
  keys: readonly string[],
): Promise<MetaPropertyDefinitionsTable[]> {
  if (keys.length === 0) return [];
  return db
    .selectFrom("meta_property_definitions")
    .selectAll()
    .where("kind", "=", kind)
    .where("key", "in", keys)
    .execute();
}

/** Inserts or replaces a definition (its created_at is kept on replace). */
export async function saveDefinition(
  db: Db,
  row: MetaPropertyDefinitionsTable,
  exists: boolean,
): Promise<void> {
  if (!exists) await db.insertInto("meta_property_definitions").values(row).execute();
  else
    await db
      .updateTable("meta_property_definitions")
      .set({ schema: row.schema, description: row.description, updated_at: row.updated_at })
      .where("kind", "=", row.kind)
      .where("key", "=", row.key)
      .execute();
}

/** Definitions by (kind, key); the page key is (kind, key). */
export async function listDefinitionRows(
  db: Db,
  kind: string | undefined,
  w: Window,
): Promise<MetaPropertyDefinitionsTable[]> {
  let q = db.selectFrom("meta_property_definitions").selectAll();
  if (kind) q = q.where("kind", "=", kind);
  if (w.after) q = q.where(afterKey("kind", "key", w.after));
  return q.orderBy("kind").orderBy("key").limit(w.limit).execute();
}

/** Deletes one definition. */
export async function deleteDefinitionRow(db: Db, kind: string, key: string): Promise<void> {
  await db
    .deleteFrom("meta_property_definitions")
    .where("kind", "=", kind)
    .where("key", "=", key)
    .execute();
}

/** The distinct stored values (JSON text) of a property across objects of a kind. */
export async function storedValues(db: Db, kind: string, key: string): Promise<string[]> {
  const rows = await db
    .selectFrom("meta_object_properties")
    .select("value")
    .distinct()
    .where("kind", "=", kind)
    .where("key", "=", key)
    .execute();
  return rows.map((r) => r.value);
}

/** Every region's parent and visibility (regions are few): the region directory walks it. */
export async function regionLinks(
  db: Db,
): Promise<{ uuid: string; parent_uuid: string | null; visibility: string }[]> {
  return db.selectFrom("meta_regions").select(["uuid", "parent_uuid", "visibility"]).execute();
}

/** Regions by UUID; with `externalOnly`, only EXTERNAL ones. */
export async function regionRowsByUuid(
  db: Db,
  uuids: readonly string[],
  externalOnly: boolean,
): Promise<RegionRow[]> {
  if (uuids.length === 0) return [];
  return regions(db, externalOnly).where("g.uuid", "in", uuids).execute();
}

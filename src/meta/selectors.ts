/**
 * How object RPCs find their object (an ObjectSelector: a UUID, or a name or slug with its kind
 * and optionally its project) and how rows become domain objects. Selectors are resolved in two
 * steps: the project (through the directory) before the transaction, the row inside it.
 */
import type { Kysely } from "kysely";
import type { Caller } from "../platform/caller.js";
import { MulliganError } from "../platform/errors.js";
import { projectFilter } from "../platform/project-scope.js";
import { isUuid } from "../platform/validate.js";
import type { Database } from "../store/database.js";
import { type MetaDeps, nameScope, readScope } from "./access.js";
import type { Json, ObjectKindName, RegisteredObject } from "./model.js";
import * as repo from "./repo.js";

/** A selector as decoded: `object` is a UUID, or a name/slug and then `kind` is set. */
export interface ObjectSelectorInput {
  object: string;
  kind?: ObjectKindName;
  project?: string;
}

/** A selector whose project is resolved: ready to be looked up inside a transaction. */
export interface ResolvedSelector {
  ref: string;
  byUuid: boolean;
  kind?: ObjectKindName;
  scope: repo.ObjectScope;
}

/** Resolves the selector's project (outside any transaction). */
export async function resolveSelector(
  deps: MetaDeps,
  caller: Caller,
  sel: ObjectSelectorInput,
): Promise<ResolvedSelector> {
  const p = caller.principal;
  if (isUuid(sel.object))
    return { ref: sel.object.toLowerCase(), byUuid: true, scope: readScope(p) };
  const project = await projectFilter(deps.projects, caller, sel.project, "selector.project");
  return { ref: sel.object, byUuid: false, kind: sel.kind, scope: nameScope(p, project?.uuid) };
}

/** The one visible object the selector names; NOT_FOUND otherwise. */
export async function selectObject(
  db: Kysely<Database>,
  sel: ResolvedSelector,
): Promise<repo.ObjectRow> {
  const rows = sel.byUuid
    ? await repo.objectRowsByUuid(db, [sel.ref], sel.scope)
    : await repo.objectRowsByName(db, [sel.ref], sel.kind, sel.scope);
  const [row] = rows;
  if (!row) throw MulliganError.notFound("object", sel.ref, "selector.object");
  if (rows.length > 1)
    throw MulliganError.invalid(
      "selector.project",
      "OBJECT_AMBIGUOUS",
      `"${sel.ref}" names a fleet object and one of your project: name the project`,
    );
  return row;
}

/** A row with its tags as a domain object (project name filled in later). */
export function toObject(row: repo.ObjectRow, tags: string[]): RegisteredObject {
  return {
    uuid: row.uuid,
    kind: row.kind as ObjectKindName,
    name: row.name,
    slug: row.slug,
    projectUuid: row.project_uuid || null,
    projectName: null,
    regionUuid: row.region_uuid,
    regionName: row.region_name,
    tags,
    properties: JSON.parse(row.properties) as Record<string, Json>,
    createTime: row.created_at,
    updateTime: row.updated_at,
  };
}

/** Rows with their tags (one query) as domain objects. */
export async function toObjects(
  db: Kysely<Database>,
  rows: readonly repo.ObjectRow[],
): Promise<RegisteredObject[]> {
  const tags = await repo.tagsOf(
    db,
    rows.map((r) => r.uuid),
  );
  return rows.map((r) => toObject(r, tags.get(r.uuid) ?? []));
}

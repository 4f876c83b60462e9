/**
 * Reading many objects at once: LookupObjects resolves a batch of names, slugs and UUIDs with
 * two queries (one by UUID, one by name or slug), and FindObjects lists objects by filters.
 * Both apply tenancy in SQL, so another project's objects never leave the database.
 */
import type { Caller } from "../platform/caller.js";
import { type PageKey, pageOf } from "../platform/paging.js";
import { projectFilter } from "../platform/project-scope.js";
import { isUuid } from "../platform/validate.js";
import { canonicalJson } from "../store/request-log.js";
import { type MetaDeps, nameScope, readScope, withProjectNames } from "./access.js";
import type { Json, ObjectKindName, Page, RegisteredObject } from "./model.js";
import { visibleRegion } from "./regions.js";
import * as repo from "./repo.js";
import { toObjects } from "./selectors.js";

/** A decoded LookupObjects request. */
export interface LookupObjectsInput {
  refs: string[];
  kind?: ObjectKindName;
  project?: string;
}

/** One ref's outcome: the object, or why there is none. */
export interface LookupResult {
  ref: string;
  object: RegisteredObject | null;
  reason: "" | "NOT_FOUND" | "AMBIGUOUS";
}

/** A decoded FindObjects request: every filter present must hold. */
export interface FindObjectsInput {
  pageSize: number;
  after: PageKey | undefined;
  kind?: ObjectKindName;
  project?: string;
  region?: string;
  tags: string[];
  properties: Record<string, Json>;
  namePrefix?: string;
}

/** Resolves each ref among visible objects; one result per ref, in order. */
export async function lookupObjects(
  deps: MetaDeps,
  caller: Caller,
  input: LookupObjectsInput,
): Promise<LookupResult[]> {
  const p = caller.principal;
  const db = deps.store.db;
  const project = await projectFilter(deps.projects, caller, input.project);
  const uuids = [...new Set(input.refs.filter(isUuid).map((r) => r.toLowerCase()))];
  const names = [...new Set(input.refs.filter((r) => !isUuid(r)))];
  const rows = [
    ...(await repo.objectRowsByUuid(db, uuids, readScope(p))),
    ...(await repo.objectRowsByName(db, names, input.kind, nameScope(p, project?.uuid))),
  ];
  const unique = [...new Map(rows.map((r) => [r.uuid, r])).values()];
  const objects = await withProjectNames(deps, caller, await toObjects(db, unique));
  return input.refs.map((ref) => {
    const matches = isUuid(ref)
      ? objects.filter((o) => o.uuid === ref.toLowerCase())
      : objects.filter((o) => o.name === ref || o.slug === ref);
    const [only] = matches;
    if (!only) return { ref, object: null, reason: "NOT_FOUND" };
    if (matches.length > 1) return { ref, object: null, reason: "AMBIGUOUS" };
    return { ref, object: only, reason: "" };
  });
}

/** A page of visible objects matching every filter, by (name, uuid). */
export async function findObjects(
  deps: MetaDeps,
  caller: Caller,
  input: FindObjectsInput,
): Promise<Page<RegisteredObject>> {
  const p = caller.principal;
  const db = deps.store.db;
  const project = await projectFilter(deps.projects, caller, input.project);
  const region =
    input.region === undefined ? undefined : await visibleRegion(db, p, input.region, "region");
  const rows = await repo.findObjectRows(
    db,
    {
      kind: input.kind,
      projectUuid: project?.uuid,
      regionUuid: region?.uuid,
      tags: input.tags,
      properties: Object.entries(input.properties).map(([k, v]) => [k, canonicalJson(v)] as const),
      namePrefix: input.namePrefix,
    },
    readScope(p),
    { after: input.after, limit: input.pageSize + 1 },
  );
  const page = pageOf(rows, input.pageSize, (r) => ({ k: r.name, u: r.uuid }));
  const objects = await toObjects(db, page.items);
  return {
    items: await withProjectNames(deps, caller, objects),
    nextPageToken: page.nextPageToken,
  };
}

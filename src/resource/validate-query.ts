/**
 * Decoding of a ResourceQuery (FindCandidates, ClaimBest) and the field checks the claim
 * decoders share. Names are resolved here too (class and capability names checked, group,
 * in_tree and region references turned into UUIDs) before any transaction starts: the region
 * directory may read the store, and SQLite has one connection.
 */
import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import {
  DistanceConstraint_Relation,
  GroupLevel,
  GroupPolicy,
  type ResourceQuery,
  type TimeWindow,
} from "../gen/mulligan/resource/v1/resource_pb.js";
import type { Caller } from "../platform/caller.js";
import type { RegionDirectory } from "../platform/directory.js";
import { MulliganError } from "../platform/errors.js";
import { nowIso } from "../platform/ids.js";
import { isUuid, Violations } from "../platform/validate.js";
import type { Store } from "../store/store.js";
import { CAPABILITIES } from "./capabilities.js";
import { RESOURCE_CLASSES } from "./classes.js";
import { checkQueryShape } from "./engine/candidates.js";
import type { DistanceInput, GroupLevelName, QueryInput, RequestGroupInput } from "./model.js";
import { findProviderRow } from "./repo/registry.js";
import { groupRowsByRef } from "./repo/vocabulary.js";
import { unknownNames } from "./standards.js";

/** A window as the caller gave it (null start = from the claim on, null end = open-ended). */
export interface GivenWindow {
  start: string | null;
  end: string | null;
}

/** What resolving a query needs. */
export interface QueryDeps {
  store: Store;
  regions: RegionDirectory;
}

const SUFFIX_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const LEVELS: Record<number, GroupLevelName | undefined> = {
  [GroupLevel.RACK]: "rack",
  [GroupLevel.ROW]: "row",
  [GroupLevel.SITE]: "site",
};

/** A positive int64 amount that is a safe JS integer. */
function positiveAmount(v: Violations, field: string, value: bigint): number {
  if (value < 1n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
    v.add(field, "AMOUNT_INVALID", `must be between 1 and ${Number.MAX_SAFE_INTEGER}`);
    return 1;
  }
  return Number(value);
}

export function timestamp(v: Violations, field: string, ts: Timestamp | undefined): string | null {
  if (!ts) return null;
  const d = timestampDate(ts);
  if (Number.isNaN(d.getTime()) || d.getUTCFullYear() > 9999 || d.getUTCFullYear() < 1970) {
    v.add(field, "WINDOW_INVALID", "must be a time between 1970 and 9999");
    return null;
  }
  return d.toISOString();
}

/** A window with end after start (when both are given). */
export function decodeWindow(v: Violations, field: string, w: TimeWindow | undefined): GivenWindow {
  const start = timestamp(v, `${field}.start`, w?.start);
  const end = timestamp(v, `${field}.end`, w?.end);
  if (end !== null && end <= (start ?? nowIso()))
    v.add(`${field}.end`, "WINDOW_INVALID", "must be after the window start");
  return { start, end };
}

export function uuidField(v: Violations, field: string, value: string, required: boolean): string {
  if (value === "") {
    if (required) v.add(field, "FIELD_REQUIRED", "is required");
  } else if (!isUuid(value)) v.add(field, "UUID_INVALID", "must be a UUID");
  return value.toLowerCase();
}

/** Resource class → amount of a request, every amount positive. */
export function resources(
  v: Violations,
  field: string,
  map: Record<string, bigint>,
  classes: string[],
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [cls, value] of Object.entries(map)) {
    out[cls] = positiveAmount(v, `${field}[${cls}]`, value);
    classes.push(cls);
  }
  return out;
}

/** Adds RESOURCE_CLASS_UNKNOWN / CAPABILITY_UNKNOWN for names neither standard nor custom. */
export async function checkNames(
  store: Store,
  v: Violations,
  classes: readonly (readonly [string, string])[],
  capabilities: readonly (readonly [string, string])[],
): Promise<void> {
  const [badClasses, badCapabilities] = await Promise.all([
    unknownNames(
      store.db,
      RESOURCE_CLASSES,
      classes.map(([, n]) => n),
    ),
    unknownNames(
      store.db,
      CAPABILITIES,
      capabilities.map(([, n]) => n),
    ),
  ]);
  for (const [field, n] of classes)
    if (badClasses.has(n)) v.add(field, "RESOURCE_CLASS_UNKNOWN", `unknown resource class ${n}`);
  for (const [field, n] of capabilities)
    if (badCapabilities.has(n)) v.add(field, "CAPABILITY_UNKNOWN", `unknown capability ${n}`);
}

/**
 * A ResourceQuery → QueryInput, names resolved. `field` prefixes violation paths ("query").
 * Also returns the window as given (for request hashing: the default start is "now").
 */
export async function decodeQuery(
  deps: QueryDeps,
  caller: Caller,
  q: ResourceQuery | undefined,
  field = "query",
): Promise<{ query: QueryInput; given: GivenWindow }> {
  const v = new Violations();
  const classes: [string, string][] = [];
  const capabilities: [string, string][] = [];
  const groupRefs: [string, string][] = [];
  const caps = (path: string, list: readonly string[]) => {
    list.forEach((c, i) => {
      capabilities.push([`${path}[${i}]`, c]);
    });
    return [...new Set(list)];
  };
  const refs = (path: string, list: readonly string[]) => {
    list.forEach((g, i) => {
      groupRefs.push([`${path}[${i}]`, g]);
    });
    return list;
  };
  const groups = (q?.groups ?? []).map((g, i) => {
    const path = `${field}.groups[${i}]`;
    if (g.suffix !== "" && !SUFFIX_PATTERN.test(g.suffix))
      v.add(`${path}.suffix`, "SUFFIX_INVALID", "must be 1–64 characters of [A-Za-z0-9_-]");
    const found: string[] = [];
    const res = resources(v, `${path}.resources`, g.resources, found);
    for (const cls of found) classes.push([`${path}.resources[${cls}]`, cls]);
    return {
      suffix: g.suffix,
      resources: res,
      required: caps(`${path}.required`, g.required),
      forbidden: caps(`${path}.forbidden`, g.forbidden),
      anyOf: g.anyOf.map((s, j) => caps(`${path}.any_of[${j}].names`, s.names)),
      memberOf: g.memberOf.map((s, j) => refs(`${path}.member_of[${j}].groups`, s.groups)),
      forbiddenGroups: refs(`${path}.forbidden_groups`, g.forbiddenGroups),
      inTree: g.inTree === "" ? null : g.inTree,
    };
  });
  const distance: DistanceInput[] = (q?.distance ?? []).map((d, i) => {
    const path = `${field}.distance[${i}]`;
    const level = LEVELS[d.level];
    if (!level) v.add(`${path}.level`, "FIELD_REQUIRED", "must be RACK, ROW or SITE");
    v.enumValue(`${path}.relation`, d.relation, DistanceConstraint_Relation, true);
    if (d.consumers.length === 0) v.add(`${path}.consumers`, "FIELD_REQUIRED", "is required");
    return {
      relation: d.relation === DistanceConstraint_Relation.DIFFERENT ? "different" : "same",
      level: level ?? "rack",
      consumers: d.consumers.map((c, j) => uuidField(v, `${path}.consumers[${j}]`, c, true)),
    };
  });
  v.enumValue(`${field}.group_policy`, q?.groupPolicy ?? 0, GroupPolicy, false);
  if ((q?.limit ?? 0) < 0) v.add(`${field}.limit`, "LIMIT_INVALID", "must not be negative");
  const given = decodeWindow(v, `${field}.window`, q?.window);
  const policy = q?.groupPolicy ?? GroupPolicy.UNSPECIFIED;
  const draft: QueryInput = {
    groups: groups as RequestGroupInput[],
    groupPolicy:
      policy === GroupPolicy.NONE ? "none" : policy === GroupPolicy.ISOLATE ? "isolate" : null,
    sameSubtree: (q?.sameSubtree ?? []).map((s) => s.suffixes),
    rootRequired: caps(`${field}.root_required`, q?.rootRequired ?? []),
    rootForbidden: caps(`${field}.root_forbidden`, q?.rootForbidden ?? []),
    regions: null,
    distance,
    window: { start: given.start ?? nowIso(), end: given.end },
    limit: q?.limit ?? 0,
  };
  for (const f of checkQueryShape(draft))
    v.add(f.field.replace(/^query/, field), f.reason, f.description);
  v.throwIfAny();

  // Names and references, outside any transaction.
  await checkNames(deps.store, v, classes, capabilities);
  const found = await groupRowsByRef(deps.store.db, [...new Set(groupRefs.map(([, g]) => g))]);
  const groupUuid = new Map<string, string>();
  for (const g of found) {
    groupUuid.set(g.uuid, g.uuid);
    groupUuid.set(g.name, g.uuid);
  }
  const toUuid = (g: string) => groupUuid.get(isUuid(g) ? g.toLowerCase() : g);
  for (const [path, g] of groupRefs)
    if (!toUuid(g) && !isUuid(g)) v.add(path, "GROUP_UNKNOWN", `no provider group "${g}"`);
  const resolved: RequestGroupInput[] = [];
  for (const [i, g] of groups.entries()) {
    let inTree: string | null = null;
    if (g.inTree !== null) {
      inTree = (await findProviderRow(deps.store.db, g.inTree))?.uuid ?? null;
      if (inTree === null)
        v.add(`${field}.groups[${i}].in_tree`, "PROVIDER_UNKNOWN", `no provider "${g.inTree}"`);
    }
    const uuids = (list: readonly string[]) => list.map((r) => toUuid(r) ?? r.toLowerCase());
    resolved.push({
      ...g,
      memberOf: g.memberOf.map(uuids),
      forbiddenGroups: uuids(g.forbiddenGroups),
      inTree,
    });
  }
  const forbiddenTrees = new Set<string>();
  for (const [i, ref] of (q?.forbiddenTrees ?? []).entries()) {
    const row = await findProviderRow(deps.store.db, ref);
    // A tree that no longer exists cannot be chosen anyway.
    if (row) forbiddenTrees.add(row.root_uuid);
    else if (!isUuid(ref))
      v.add(`${field}.forbidden_trees[${i}]`, "PROVIDER_UNKNOWN", `no provider "${ref}"`);
  }
  let regions: ReadonlySet<string> | null = null;
  if (q && q.region !== "") {
    const region = await deps.regions.findRegion(caller, q.region);
    if (!region) throw MulliganError.notFound("region", q.region, `${field}.region`);
    regions = await deps.regions.subtree(caller, region.uuid);
  }
  v.throwIfAny();
  return { query: { ...draft, groups: resolved, regions, forbiddenTrees }, given };
}

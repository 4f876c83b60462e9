/**
 * The flags that describe a resource query (`candidates`, `claim-best`), declared and parsed in
 * one place so both commands spell them the same way. Every mistake is a UsageError, so a
 * malformed query exits 2 before any call is made.
 *
 * Granular groups: `--group 'SUFFIX:resources=VCPU=2,MEMORY_MB=512;required=A,B'`, clauses
 * separated by `;`, each `KEY=VALUE` with KEY one of resources, required, forbidden, any-of,
 * member-of, forbidden-groups, in-tree (any-of and member-of may repeat).
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { Command } from "commander";
import {
  DistanceConstraint_Relation,
  type DistanceConstraintSchema,
  GroupLevel,
  GroupPolicy,
  type RequestGroup,
  RequestGroupSchema,
  type ResourceQuery,
  ResourceQuerySchema,
} from "../gen/mulligan/resource/v1/resource_pb.js";
import { UsageError } from "./exit-codes.js";
import { collect, count, enumChoices, enumValue } from "./parse.js";
import {
  capabilitiesOf,
  listOf,
  resourcesOf,
  type WindowFlags,
  windowOf,
  withWindow,
} from "./resource-values.js";

/** A granular group's suffix. */
const SUFFIX = /^[A-Za-z0-9_-]{1,64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const INT32_MAX = 2 ** 31 - 1;

/** The flags of one request group (top-level for the unnamed group, or a `--group`'s clauses). */
interface GroupFlags {
  resources?: string;
  required?: string[];
  forbidden?: string[];
  anyOf?: string[];
  memberOf?: string[];
  forbiddenGroups?: string[];
  inTree?: string;
}

/** The distance flags (`--same-rack-as`, …), shared with `machine create`. */
export interface DistanceFlags {
  sameRackAs?: string[];
  sameRowAs?: string[];
  sameSiteAs?: string[];
  differentRackFrom?: string[];
  differentRowFrom?: string[];
  differentSiteFrom?: string[];
}

/** The raw query flags, as commander collects them. */
export interface QueryFlags extends WindowFlags, GroupFlags, DistanceFlags {
  group?: string[];
  groupPolicy?: string;
  sameSubtree?: string[];
  rootRequired?: string[];
  rootForbidden?: string[];
  region?: string;
  limit?: string;
}

/** Distance flags: option key → relation and failure-domain level. */
const DISTANCE: [keyof DistanceFlags, string, DistanceConstraint_Relation, GroupLevel][] = [
  ["sameRackAs", "--same-rack-as", DistanceConstraint_Relation.SAME, GroupLevel.RACK],
  ["sameRowAs", "--same-row-as", DistanceConstraint_Relation.SAME, GroupLevel.ROW],
  ["sameSiteAs", "--same-site-as", DistanceConstraint_Relation.SAME, GroupLevel.SITE],
  [
    "differentRackFrom",
    "--different-rack-from",
    DistanceConstraint_Relation.DIFFERENT,
    GroupLevel.RACK,
  ],
  [
    "differentRowFrom",
    "--different-row-from",
    DistanceConstraint_Relation.DIFFERENT,
    GroupLevel.ROW,
  ],
  [
    "differentSiteFrom",
    "--different-site-from",
    DistanceConstraint_Relation.DIFFERENT,
    GroupLevel.SITE,
  ],
];

/** Adds the query flags to `cmd` (repeatable ones are marked so). */
export function withQueryFlags(cmd: Command): Command {
  cmd
    .option("--resources <list>", "unnamed group: CLASS=AMOUNT,… (VCPU=2,MEMORY_MB=1024)")
    .option(
      "--required <caps>",
      "unnamed group: capabilities A,B every provider must have (repeatable)",
      collect,
    )
    .option(
      "--forbidden <caps>",
      "unnamed group: capabilities no provider may have (repeatable)",
      collect,
    )
    .option("--any-of <caps>", "unnamed group: at least one of A,B (repeatable: each set)", collect)
    .option(
      "--member-of <groups>",
      "unnamed group: in one of g1,g2 (repeatable: each set)",
      collect,
    )
    .option("--forbidden-groups <groups>", "unnamed group: in none of g1,g2 (repeatable)", collect)
    .option("--in-tree <provider>", "unnamed group: only the tree of this provider")
    .option(
      "--group <spec>",
      "granular group SUFFIX:KEY=VALUE;… with KEY resources, required, forbidden, any-of, member-of, forbidden-groups, in-tree (repeatable)",
      collect,
    )
    .option(
      "--group-policy <policy>",
      `how granular groups share providers: ${enumChoices(GroupPolicy)}`,
    )
    .option(
      "--same-subtree <suffixes>",
      "these granular groups in one subtree (repeatable)",
      collect,
    )
    .option(
      "--root-required <caps>",
      "capabilities the tree's root must have (repeatable)",
      collect,
    )
    .option(
      "--root-forbidden <caps>",
      "capabilities the tree's root must not have (repeatable)",
      collect,
    )
    .option("--region <region>", "only providers in this region or below")
    .option("--limit <n>", "at most this many candidates (default: no limit)");
  withDistanceFlags(cmd, "consumer UUIDs c1,c2");
  return withWindow(cmd, "the time the resources are wanted");
}

/** Adds the distance flags; `whom` says what their values are ("consumer UUIDs c1,c2"). */
export function withDistanceFlags(cmd: Command, whom: string): Command {
  for (const [, flag, relation] of DISTANCE) {
    const verb = relation === DistanceConstraint_Relation.SAME ? "sharing a" : "sharing no";
    const level = flag.split("-")[3];
    cmd.option(`${flag} <uuids>`, `${verb} ${level} with ${whom} (repeatable)`, collect);
  }
  return cmd;
}

/** The query the flags describe. */
export function queryOf(o: QueryFlags): ResourceQuery {
  const groups: RequestGroup[] = [];
  const unnamed = unnamedGroup(o);
  if (unnamed) groups.push(unnamed);
  for (const spec of o.group ?? []) {
    const g = granularGroup(spec);
    if (groups.some((x) => x.suffix === g.suffix))
      throw new UsageError(`--group ${g.suffix} is given twice`);
    groups.push(g);
  }
  if (!groups.some((g) => Object.keys(g.resources).length > 0))
    throw new UsageError("give --resources or a --group with resources=…");
  const suffixes = new Set(groups.map((g) => g.suffix).filter((s) => s !== ""));
  const sameSubtree = (o.sameSubtree ?? []).map((text) => {
    const list = listOf(text, "--same-subtree");
    for (const s of list)
      if (!suffixes.has(s))
        throw new UsageError(`--same-subtree names ${s}, which no --group defines`);
    return { suffixes: list };
  });
  const limit = o.limit === undefined ? 0 : count(o.limit, "--limit");
  if (limit > INT32_MAX) throw new UsageError(`--limit must be at most ${INT32_MAX}`);
  return create(ResourceQuerySchema, {
    groups,
    groupPolicy: o.groupPolicy
      ? enumValue(GroupPolicy, o.groupPolicy, "--group-policy")
      : GroupPolicy.UNSPECIFIED,
    sameSubtree,
    rootRequired: (o.rootRequired ?? []).flatMap((t) => capabilitiesOf(t, "--root-required")),
    rootForbidden: (o.rootForbidden ?? []).flatMap((t) => capabilitiesOf(t, "--root-forbidden")),
    region: o.region ?? "",
    distance: distanceOf(o),
    window: windowOf(o),
    limit,
  });
}

/** The unnamed group from the top-level flags, or undefined when none of them is given. */
function unnamedGroup(o: GroupFlags): RequestGroup | undefined {
  const lists = [o.required, o.forbidden, o.anyOf, o.memberOf, o.forbiddenGroups];
  if (o.resources === undefined && o.inTree === undefined && !lists.some((l) => l?.length))
    return undefined;
  return requestGroup(o, "", (key) => `--${key}`);
}

/** One request group; `flag(key)` names a flag or clause in errors. */
function requestGroup(o: GroupFlags, suffix: string, flag: (key: string) => string): RequestGroup {
  const caps = (list: string[] | undefined, key: string) =>
    (list ?? []).map((t) => capabilitiesOf(t, flag(key)));
  const groups = (list: string[] | undefined, key: string) =>
    (list ?? []).map((t) => listOf(t, flag(key)));
  const inTree = o.inTree?.trim();
  if (inTree === "") throw new UsageError(`${flag("in-tree")} is empty`);
  return create(RequestGroupSchema, {
    suffix,
    resources: o.resources === undefined ? {} : resourcesOf(o.resources, flag("resources")),
    required: caps(o.required, "required").flat(),
    forbidden: caps(o.forbidden, "forbidden").flat(),
    anyOf: caps(o.anyOf, "any-of").map((names) => ({ names })),
    memberOf: groups(o.memberOf, "member-of").map((g) => ({ groups: g })),
    forbiddenGroups: groups(o.forbiddenGroups, "forbidden-groups").flat(),
    inTree: inTree ?? "",
  });
}

/** One `--group SUFFIX:KEY=VALUE;…` value. */
function granularGroup(spec: string): RequestGroup {
  const colon = spec.indexOf(":");
  const suffix = colon < 0 ? spec : spec.slice(0, colon);
  if (!SUFFIX.test(suffix))
    throw new UsageError(`--group "${spec}" must start with a suffix of [A-Za-z0-9_-] and ":"`);
  if (colon < 0) throw new UsageError(`--group ${suffix} needs ":" and at least one clause`);
  const what = `--group ${suffix}`;
  const g: GroupFlags = {};
  for (const clause of spec.slice(colon + 1).split(";")) {
    const eq = clause.indexOf("=");
    const key = clause.slice(0, eq).trim();
    const value = clause.slice(eq + 1);
    if (eq <= 0) throw new UsageError(`${what}: clause "${clause}" must be KEY=VALUE`);
    const field = CLAUSES[key];
    if (!field)
      throw new UsageError(`${what}: unknown key "${key}" (${Object.keys(CLAUSES).join(", ")})`);
    if (field === "resources" || field === "inTree") {
      if (g[field] !== undefined) throw new UsageError(`${what}: ${key} is given twice`);
      g[field] = value;
    } else g[field] = collect(value, g[field]);
  }
  return requestGroup(g, suffix, (key) => `${what} ${key}`);
}

/** `--group` clause keys → the unnamed-group flag they stand for. */
const CLAUSES: Record<string, keyof GroupFlags | undefined> = {
  resources: "resources",
  required: "required",
  forbidden: "forbidden",
  "any-of": "anyOf",
  "member-of": "memberOf",
  "forbidden-groups": "forbiddenGroups",
  "in-tree": "inTree",
};

/** The distance flags as constraints, one per flag used. */
export function distanceOf(o: DistanceFlags): MessageInitShape<typeof DistanceConstraintSchema>[] {
  const out: MessageInitShape<typeof DistanceConstraintSchema>[] = [];
  for (const [key, flag, relation, level] of DISTANCE) {
    const values = o[key] as string[] | undefined;
    if (!values?.length) continue;
    const consumers = values.flatMap((t) => listOf(t, flag));
    for (const c of consumers)
      if (!UUID.test(c)) throw new UsageError(`${flag} "${c}" must be a consumer UUID`);
    out.push({ relation, level, consumers });
  }
  return out;
}

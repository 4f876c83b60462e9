/**
 * Request-shape rules of an allocation-candidates query that need no snapshot (Placement 1.39's
 * request parsing). The validators call checkQueryShape to turn them into INVALID_ARGUMENT; the
 * engine calls it too, so a malformed query can never reach the search.
 */
import type { FieldViolation } from "../../platform/errors.js";
import type { QueryInput, RequestGroupInput } from "../model.js";

/** True if an unnamed group carries nothing at all (the same as no unnamed group). */
export function isEmptyGroup(g: RequestGroupInput): boolean {
  return (
    Object.keys(g.resources).length === 0 &&
    g.required.length === 0 &&
    g.forbidden.length === 0 &&
    g.anyOf.length === 0 &&
    g.memberOf.length === 0 &&
    g.forbiddenGroups.length === 0 &&
    g.inTree === null
  );
}

/** The groups a search works on: an empty unnamed group is dropped. */
export function effectiveGroups(query: QueryInput): RequestGroupInput[] {
  return query.groups.filter((g) => g.suffix !== "" || !isEmptyGroup(g));
}

/**
 * Violations of Placement's rules: at least one group with resources; a resourceless group must
 * be named and listed in a same_subtree (the unnamed group can never be resourceless); suffixes
 * unique; same_subtree lists only existing named suffixes; group_policy set when there is more
 * than one named group; no required capability (or any_of set) wholly forbidden in its group;
 * nothing both root-required and root-forbidden.
 */
export function checkQueryShape(query: QueryInput): FieldViolation[] {
  const out: FieldViolation[] = [];
  const add = (field: string, reason: string, description: string) =>
    out.push({ field, reason, description });
  const groups = effectiveGroups(query);
  const inSubtree = new Set(query.sameSubtree.flat());
  const seen = new Set<string>();
  if (!groups.some((g) => Object.keys(g.resources).length > 0))
    add("query.groups", "RESOURCES_REQUIRED", "at least one request group must ask for resources");
  query.groups.forEach((g, i) => {
    const field = `query.groups[${i}]`;
    if (seen.has(g.suffix))
      add(`${field}.suffix`, "SUFFIX_DUPLICATE", `suffix "${g.suffix}" repeats`);
    seen.add(g.suffix);
    const resourceless = Object.keys(g.resources).length === 0;
    if (resourceless && g.suffix === "" && !isEmptyGroup(g))
      add(`${field}.resources`, "RESOURCES_REQUIRED", "the unnamed group needs resources");
    if (resourceless && g.suffix !== "" && !inSubtree.has(g.suffix))
      add(
        `${field}.resources`,
        "RESOURCELESS_GROUP_NOT_IN_SUBTREE",
        `resourceless group "${g.suffix}" must be listed in a same_subtree`,
      );
    for (const c of g.required)
      if (g.forbidden.includes(c))
        add(`${field}.forbidden`, "CAPABILITY_CONFLICT", `${c} is both required and forbidden`);
    g.anyOf.forEach((set, j) => {
      if (set.length > 0 && set.every((c) => g.forbidden.includes(c)))
        add(
          `${field}.any_of[${j}]`,
          "CAPABILITY_CONFLICT",
          "every capability of the set is forbidden",
        );
    });
  });
  const named = new Set(groups.filter((g) => g.suffix !== "").map((g) => g.suffix));
  query.sameSubtree.forEach((set, i) => {
    for (const s of set)
      if (!named.has(s))
        add(
          `query.same_subtree[${i}].suffixes`,
          "SUFFIX_UNKNOWN",
          s === "" ? "the unnamed group cannot be in a same_subtree" : `no request group "${s}"`,
        );
  });
  if (named.size > 1 && query.groupPolicy === null)
    add("query.group_policy", "GROUP_POLICY_REQUIRED", "required with more than one named group");
  for (const c of query.rootRequired)
    if (query.rootForbidden.includes(c))
      add(
        "query.root_forbidden",
        "CAPABILITY_CONFLICT",
        `${c} is both root-required and forbidden`,
      );
  return out;
}

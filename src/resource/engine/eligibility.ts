/**
 * Stage 1 of the candidate pipeline: for each request group, the providers that may serve it,
 * keyed by the tree ("anchor" root) they can serve it for. Cheap per-provider filters run
 * first, each recorded as a FilterStep so an empty result can say which constraint emptied it.
 *
 * Rules, as Placement 1.39 applies them:
 * - Named (granular) group: ONE provider holds all its resources, and that provider itself must
 *   have every required capability, one of each any_of set, none of the forbidden ones, be in a
 *   group of every member_of set and in no forbidden group. in_tree: the provider's root is the
 *   root of the in_tree provider. A sharing provider serves the group for its own tree and for
 *   every tree it shares with; any other provider only for its own tree.
 * - Unnamed group: each resource class from one provider of the tree or a sharing provider.
 *   A provider contributing a class must have none of the forbidden capabilities. member_of
 *   holds if the contributing provider OR the root of the tree it serves is in a group of every
 *   set ("member_of on a root spans its tree; on a child, only that child"); forbidden groups
 *   exclude the pair if either is in one. A sharing provider serves other trees only if it
 *   meets member_of itself, and never under in_tree (in_tree bounds every class to that tree).
 *   Required / any_of capabilities are checked on the union of the contributing providers'
 *   capabilities (the combination stage), not per provider.
 */
import type { FilterStepRecord, RequestGroupInput } from "../model.js";
import type { SearchContext } from "./context.js";
import type { Snapshot } from "./snapshot.js";

/** What one request group may use, per anchor root. */
export interface GroupPlan {
  group: RequestGroupInput;
  /** Named group: anchor root → providers that alone satisfy the group, by name. */
  single: Map<string, string[]> | null;
  /** Unnamed group: resource class → anchor root → providers offering it, by name. */
  spread: Map<string, Map<string, string[]>> | null;
}

/**
 * Records one filter step and returns the providers (or trees) it kept. A step that starts from
 * an empty pool after an earlier step emptied one is not recorded: it removed nothing, and its
 * detail (phrased as the reason for an empty set) would mislead.
 */
export function narrow(
  steps: FilterStepRecord[],
  suffix: string,
  pool: readonly string[],
  constraint: string,
  detail: string,
  keep: (uuid: string) => boolean,
): string[] {
  if (pool.length === 0 && steps.some((st) => st.after === 0)) return [];
  const after = pool.filter(keep);
  steps.push({ constraint, suffix, before: pool.length, after: after.length, detail });
  return after;
}

/** The root of the in_tree provider, or "" when it does not exist (nothing matches then). */
function inTreeRoot(ctx: SearchContext, group: RequestGroupInput): string {
  const p = group.inTree === null ? undefined : ctx.snapshot.providers.get(group.inTree);
  return p ? p.rootUuid : "";
}

/**
 * Region and in_tree: the filters every group starts with. `fleet` says the pool is every
 * provider of the snapshot (then the providers offering a class are the snapshot's list of it).
 */
function basePool(
  ctx: SearchContext,
  group: RequestGroupInput,
  steps: FilterStepRecord[],
): { pool: readonly string[]; fleet: boolean } {
  const s = group.suffix;
  let pool: readonly string[] = ctx.providersByName();
  const fleet = ctx.whole && ctx.query.regions === null && group.inTree === null;
  if (ctx.query.regions !== null)
    pool = narrow(steps, s, pool, "region", "no provider in the requested regions", (u) =>
      ctx.inRegion(u),
    );
  if (group.inTree !== null) {
    const root = inTreeRoot(ctx, group);
    pool = narrow(steps, s, pool, "in_tree", "no provider in the in_tree tree", (u) => {
      return ctx.provider(u).rootUuid === root;
    });
  }
  const missing = missingCapability(ctx.snapshot, group);
  if (missing) pool = narrow(steps, s, pool, missing.constraint, missing.detail, () => false);
  return { pool, fleet };
}

/**
 * A required capability no provider of the fleet has, or an any_of set none of whose
 * capabilities any provider has: the group is unsatisfiable before any per-provider work (named
 * or unnamed, some provider must hold it). Stage 1 records it as the group's first filter step;
 * without it, an unsatisfiable query paid for the whole of stages 1 and 2 to learn the same.
 */
export function missingCapability(
  snapshot: Snapshot,
  group: RequestGroupInput,
): { constraint: string; detail: string } | null {
  const missing = group.required.find((c) => !snapshot.hasCapability(c));
  if (missing !== undefined)
    return { constraint: "required", detail: `no provider has ${missing}` };
  const none = group.anyOf.find((set) => !set.some((c) => snapshot.hasCapability(c)));
  if (none !== undefined)
    return { constraint: "any_of", detail: `no provider has any of ${none.join(", ")}` };
  return null;
}

/**
 * The pool narrowed to providers that alone offer `amount` of the class (a `narrow` step). Over
 * the whole fleet the snapshot answers from its per-class lists (the same providers in the same
 * order: the others cannot offer it); the step still counts the whole pool as before.
 */
function offeringPool(
  ctx: SearchContext,
  steps: FilterStepRecord[],
  suffix: string,
  base: { pool: readonly string[]; fleet: boolean },
  pool: readonly string[],
  rc: string,
  amount: number,
): string[] {
  const detail = `no provider has ${amount} free ${rc}`;
  if (base.fleet && pool === base.pool) {
    if (pool.length === 0 && steps.some((st) => st.after === 0)) return [];
    const after = ctx.snapshot.offering(rc, amount, ctx.query.window);
    steps.push({
      constraint: "resources",
      suffix,
      before: pool.length,
      after: after.length,
      detail,
    });
    return after;
  }
  return narrow(steps, suffix, pool, "resources", detail, (u) => ctx.offers(u, rc, amount));
}

function sortedClasses(group: RequestGroupInput): string[] {
  return Object.keys(group.resources).sort();
}

function planNamed(ctx: SearchContext, group: RequestGroupInput, steps: FilterStepRecord[]) {
  const s = group.suffix;
  const base = basePool(ctx, group, steps);
  let pool: readonly string[] = base.pool;
  for (const rc of sortedClasses(group))
    pool = offeringPool(ctx, steps, s, base, pool, rc, group.resources[rc] ?? 0);
  if (group.required.length > 0)
    pool = narrow(steps, s, pool, "required", `none has ${group.required.join(", ")}`, (u) =>
      group.required.every((c) => ctx.capabilities(u).has(c)),
    );
  for (const set of group.anyOf)
    pool = narrow(steps, s, pool, "any_of", `none has any of ${set.join(", ")}`, (u) =>
      set.some((c) => ctx.capabilities(u).has(c)),
    );
  if (group.forbidden.length > 0)
    pool = narrow(steps, s, pool, "forbidden", "all have a forbidden capability", (u) =>
      group.forbidden.every((c) => !ctx.capabilities(u).has(c)),
    );
  if (group.memberOf.length > 0)
    pool = narrow(steps, s, pool, "member_of", "none is in the requested groups", (u) =>
      ctx.inAllSets(u, group.memberOf),
    );
  if (group.forbiddenGroups.length > 0)
    pool = narrow(
      steps,
      s,
      pool,
      "forbidden_groups",
      "all are in a forbidden group",
      (u) => !ctx.inAny(u, group.forbiddenGroups),
    );
  const single = new Map<string, string[]>();
  for (const u of pool) {
    const anchors = new Set([ctx.provider(u).rootUuid]);
    if (ctx.shares(u)) for (const a of ctx.sharingAnchors(u)) anchors.add(a);
    for (const a of anchors) {
      if (!ctx.inScope(a)) continue;
      const list = single.get(a) ?? [];
      list.push(u);
      single.set(a, list);
    }
  }
  return single;
}

/** The anchors one provider may serve an unnamed-group class for, after the group filters. */
function unnamedAnchors(ctx: SearchContext, group: RequestGroupInput, uuid: string): string[] {
  const root = ctx.provider(uuid).rootUuid;
  const grouped = group.memberOf.length > 0 || group.forbiddenGroups.length > 0;
  // The common case, cheaply: a provider serving its own tree only, no group constraints.
  if (!grouped && (group.inTree !== null || !ctx.shares(uuid)))
    return ctx.inScope(root) ? [root] : [];
  const anchors = new Set([root]);
  const selfInGroups = group.memberOf.length === 0 || ctx.inAllSets(uuid, group.memberOf);
  if (group.inTree === null && ctx.shares(uuid) && selfInGroups)
    for (const a of ctx.sharingAnchors(uuid)) anchors.add(a);
  return [...anchors].filter(
    (a) =>
      ctx.inScope(a) &&
      (group.memberOf.length === 0 || selfInGroups || ctx.inAllSets(a, group.memberOf)) &&
      (group.forbiddenGroups.length === 0 ||
        (!ctx.inAny(uuid, group.forbiddenGroups) && !ctx.inAny(a, group.forbiddenGroups))),
  );
}

function planUnnamed(ctx: SearchContext, group: RequestGroupInput, steps: FilterStepRecord[]) {
  const s = group.suffix;
  const base = basePool(ctx, group, steps);
  const spread = new Map<string, Map<string, string[]>>();
  for (const rc of sortedClasses(group)) {
    const amount = group.resources[rc] ?? 0;
    let pool = offeringPool(ctx, steps, s, base, base.pool, rc, amount);
    if (group.forbidden.length > 0)
      pool = narrow(
        steps,
        s,
        pool,
        "forbidden",
        `all offering ${rc} have a forbidden capability`,
        (u) => group.forbidden.every((c) => !ctx.capabilities(u).has(c)),
      );
    const byAnchor = new Map<string, string[]>();
    const add = (a: string, u: string) => {
      const list = byAnchor.get(a);
      if (list) list.push(u);
      else byAnchor.set(a, [u]);
    };
    if (group.memberOf.length > 0 || group.forbiddenGroups.length > 0) {
      const anchorsOf = new Map(pool.map((u) => [u, unnamedAnchors(ctx, group, u)]));
      pool = narrow(
        steps,
        s,
        pool,
        group.memberOf.length > 0 ? "member_of" : "forbidden_groups",
        `no provider offering ${rc} meets the group constraints`,
        (u) => (anchorsOf.get(u) ?? []).length > 0,
      );
      for (const u of pool) for (const a of anchorsOf.get(u) ?? []) add(a, u);
    } else for (const u of pool) for (const a of unnamedAnchors(ctx, group, u)) add(a, u);
    spread.set(rc, byAnchor);
  }
  return spread;
}

/** Stage 1 for one group; `steps` receives what each filter removed. */
export function planGroup(
  ctx: SearchContext,
  group: RequestGroupInput,
  steps: FilterStepRecord[],
): GroupPlan {
  if (group.suffix === "") return { group, single: null, spread: planUnnamed(ctx, group, steps) };
  return { group, single: planNamed(ctx, group, steps), spread: null };
}

/** The anchor roots a plan can serve: for the unnamed group, those offering every class. */
export function anchorsOf(plan: GroupPlan): Set<string> {
  if (plan.single) return new Set(plan.single.keys());
  const [first, ...rest] = [...(plan.spread?.values() ?? [])];
  if (!first) return new Set();
  return new Set([...first.keys()].filter((a) => rest.every((m) => m.has(a))));
}

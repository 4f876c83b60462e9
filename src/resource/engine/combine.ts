/**
 * Stage 3 of the candidate pipeline: for one tree, pick providers for every group by depth-first
 * search, yielding candidates one at a time so the caller stops at `limit` (never enumerating
 * every combination first, as Placement's itertools.product does).
 *
 * Order: the unnamed group first (one provider per class, its required / any_of capabilities
 * checked on the union of the chosen providers), then named groups, fewest options first. Each
 * placement adds its amounts to a running per-(provider, class) total checked against
 * capacity − used and max_unit, so amounts of several groups landing on one provider are merged
 * and checked together. After each named group: same_subtree for every set now complete, and
 * a forward check that the remaining named groups can still be placed — with group_policy
 * isolate an exact bipartite matching of groups to distinct free providers, so the wide-tree
 * case (7 isolated one-unit groups on 8 GPUs) finds its first answer without backtracking; with
 * policy none, each remaining group needs one provider with room. A node budget bounds the work
 * of pathological requests.
 */
import type { CandidateRecord } from "../model.js";
import type { SearchContext } from "./context.js";
import type { GroupPlan } from "./eligibility.js";

/** Work left for the whole search (nodes of the depth-first search). */
export interface Budget {
  left: number;
}

interface State {
  /** Provider → class → amount placed on it so far (entries removed when back to 0). */
  taken: Map<string, Map<string, number>>;
  chosen: Map<string, string[]>;
  isolatedOn: Set<string>;
}

const takenOn = (st: State, uuid: string, rc: string): number => st.taken.get(uuid)?.get(rc) ?? 0;

/** Adds `amount` (negative: removes) of a class on a provider to what is placed so far. */
function place(st: State, uuid: string, rc: string, amount: number): void {
  let byClass = st.taken.get(uuid);
  if (!byClass) {
    byClass = new Map();
    st.taken.set(uuid, byClass);
  }
  const next = (byClass.get(rc) ?? 0) + amount;
  if (next !== 0) byClass.set(rc, next);
  else {
    byClass.delete(rc);
    if (byClass.size === 0) st.taken.delete(uuid);
  }
}

function groupFits(ctx: SearchContext, st: State, plan: GroupPlan, uuid: string): boolean {
  for (const [rc, amount] of Object.entries(plan.group.resources))
    if (!ctx.fits(uuid, rc, amount, takenOn(st, uuid, rc))) return false;
  return true;
}

function take(st: State, plan: GroupPlan, uuid: string, sign: 1 | -1): void {
  for (const [rc, amount] of Object.entries(plan.group.resources))
    place(st, uuid, rc, sign * amount);
}

/** Placement's rule: the providers of the listed groups are all under one of them. */
function sameSubtreeHolds(ctx: SearchContext, providers: readonly string[]): boolean {
  const unique = [...new Set(providers)];
  if (unique.length <= 1) return true;
  const lineages = unique.map((u) => new Set(ctx.lineage(u)));
  return unique.some((top) => lineages.every((l) => l.has(top)));
}

/** Kuhn's augmenting paths: can every group get its own provider? */
function matchable(options: readonly string[][]): boolean {
  const owner = new Map<string, number>();
  const tryGroup = (g: number, seen: Set<string>): boolean => {
    for (const u of options[g] ?? []) {
      if (seen.has(u)) continue;
      seen.add(u);
      const other = owner.get(u);
      if (other === undefined || tryGroup(other, seen)) {
        owner.set(u, g);
        return true;
      }
    }
    return false;
  };
  return options.every((_, g) => tryGroup(g, new Set()));
}

/** The candidates of one tree, lazily, in deterministic order. */
export function* combineTree(
  ctx: SearchContext,
  plans: readonly GroupPlan[],
  anchor: string,
  budget: Budget,
): Generator<CandidateRecord> {
  const isolate = ctx.query.groupPolicy === "isolate";
  const unnamed = plans.find((p) => p.spread !== null) ?? null;
  const classes = unnamed ? Object.keys(unnamed.group.resources).sort() : [];
  const named = plans
    .filter((p) => p.single !== null)
    .map((plan) => ({ plan, options: plan.single?.get(anchor) ?? [] }))
    .sort(
      (a, b) =>
        a.options.length - b.options.length || (a.plan.group.suffix < b.plan.group.suffix ? -1 : 1),
    );
  const st: State = { taken: new Map(), chosen: new Map(), isolatedOn: new Set() };
  const subtrees = ctx.query.sameSubtree;

  const usable = (plan: GroupPlan, options: readonly string[]): string[] =>
    options.filter((u) => !(isolate && st.isolatedOn.has(u)) && groupFits(ctx, st, plan, u));

  const restFeasible = (from: number): boolean => {
    const rest = named.slice(from).map((n) => usable(n.plan, n.options));
    if (rest.some((o) => o.length === 0)) return false;
    return !isolate || matchable(rest);
  };

  const subtreesHold = (suffix: string): boolean =>
    subtrees.every((set) => {
      if (!set.includes(suffix) || !set.every((s) => st.chosen.has(s))) return true;
      return sameSubtreeHolds(
        ctx,
        set.flatMap((s) => st.chosen.get(s) ?? []),
      );
    });

  const build = (): CandidateRecord => {
    const providers = [...st.taken.keys()];
    if (providers.length > 1) providers.sort(ctx.byName);
    const allocations = new Map<string, Record<string, number>>();
    for (const u of providers) {
      const byClass = st.taken.get(u) as Map<string, number>;
      const classes = [...byClass.keys()];
      if (classes.length > 1) classes.sort();
      const rec: Record<string, number> = {};
      for (const rc of classes) rec[rc] = byClass.get(rc) as number;
      allocations.set(u, rec);
    }
    const mappings = new Map(
      [...st.chosen.keys()].sort().map((s) => [s, [...new Set(st.chosen.get(s))].sort(ctx.byName)]),
    );
    return { allocations, mappings };
  };

  function* namedStep(j: number): Generator<CandidateRecord> {
    const entry = named[j];
    if (!entry) {
      yield build();
      return;
    }
    const { plan, options } = entry;
    for (const u of usable(plan, options)) {
      if (--budget.left < 0) return;
      take(st, plan, u, 1);
      st.chosen.set(plan.group.suffix, [u]);
      if (isolate) st.isolatedOn.add(u);
      if (subtreesHold(plan.group.suffix) && restFeasible(j + 1)) yield* namedStep(j + 1);
      if (isolate) st.isolatedOn.delete(u);
      st.chosen.delete(plan.group.suffix);
      take(st, plan, u, -1);
    }
  }

  /** The unnamed group's provider per class so far (one per class, in class order). */
  const picked: string[] = [];
  const hasAll = (list: readonly string[]) => {
    const g = unnamed?.group;
    if (!g || (g.required.length === 0 && g.anyOf.length === 0)) return true;
    const has = (c: string) => list.some((u) => ctx.capabilities(u).has(c));
    return g.required.every(has) && g.anyOf.every((set) => set.some(has));
  };

  function* unnamedStep(i: number): Generator<CandidateRecord> {
    if (!unnamed) return yield* namedStep(0);
    const rc = classes[i];
    if (rc === undefined) {
      if (!hasAll(picked)) return;
      st.chosen.set("", [...picked]);
      if (restFeasible(0)) yield* namedStep(0);
      st.chosen.delete("");
      return;
    }
    const amount = unnamed.group.resources[rc] ?? 0;
    for (const u of unnamed.spread?.get(rc)?.get(anchor) ?? []) {
      if (--budget.left < 0) return;
      if (!ctx.fits(u, rc, amount, takenOn(st, u, rc))) continue;
      place(st, u, rc, amount);
      picked.push(u);
      yield* unnamedStep(i + 1);
      picked.pop();
      place(st, u, rc, -amount);
    }
  }

  yield* unnamedStep(0);
}

/**
 * Stage 2 of the candidate pipeline: the trees a candidate may be built on. A candidate is ONE
 * non-sharing tree (its "anchor" root; a sharing provider that is a root may be one) plus any
 * sharing providers that share with it. Cheap per-tree filters run here, before any
 * combination is tried:
 * - every request group must have a provider for the tree (intersection of the plans' anchors);
 * - root_required / root_forbidden: the capabilities of the tree's root (Placement's anchor
 *   filter, applied to the anchor's root, not to sharing providers);
 * - the unnamed group's required / any_of capabilities must be met by the union of ALL its
 *   possible providers for the tree (a necessary condition; the exact check, on the providers
 *   actually chosen, is in the combination stage — Placement's _get_trees_with_traits then
 *   _check_traits_for_alloc_request);
 * - distance (beyond Placement): the level-L groups of any provider of the tree must intersect
 *   (same) or avoid (different) the level-L groups of the trees holding each named consumer's
 *   allocations; sharing providers on the consumer side are ignored (they are shared, not a
 *   place). A "same" constraint naming a consumer without allocations matches no tree.
 */
import type {
  DistanceInput,
  FilterStepRecord,
  GroupLevelName,
  RequestGroupInput,
} from "../model.js";
import type { SearchContext } from "./context.js";
import { anchorsOf, type GroupPlan, narrow } from "./eligibility.js";

/** A request-wide filter step over trees (their roots). */
function narrowTrees(
  steps: FilterStepRecord[],
  pool: string[],
  constraint: string,
  detail: string,
  keep: (root: string) => boolean,
): string[] {
  const before = steps.length;
  const kept = narrow(steps, "", pool, constraint, detail, keep);
  const step = steps[before];
  if (step) step.trees = true;
  return kept;
}

/** The groups of `level` that any provider of the tree is in. */
function treeGroups(ctx: SearchContext, root: string, level: GroupLevelName): Set<string> {
  const out = new Set<string>();
  for (const u of ctx.tree(root))
    for (const g of ctx.provider(u).groups)
      if (ctx.snapshot.groups.get(g)?.level === level) out.add(g);
  return out;
}

/** Per named consumer, the level groups of the trees its non-sharing allocations sit in. */
function consumerGroups(ctx: SearchContext, d: DistanceInput): Set<string>[] {
  return d.consumers.map((consumer) => {
    const roots = new Set<string>();
    for (const u of ctx.snapshot.consumerProviders(consumer)) {
      const p = ctx.snapshot.providers.get(u);
      if (p && !ctx.shares(u)) roots.add(p.rootUuid);
    }
    const out = new Set<string>();
    for (const r of roots) for (const g of treeGroups(ctx, r, d.level)) out.add(g);
    return out;
  });
}

function meetsDistance(ctx: SearchContext, root: string, d: DistanceInput, targets: Set<string>[]) {
  const mine = treeGroups(ctx, root, d.level);
  return targets.every((t) => {
    const shared = [...mine].some((g) => t.has(g));
    return d.relation === "same" ? shared : !shared;
  });
}

/**
 * True if the union of the unnamed group's possible providers' capabilities can meet it, for
 * the tree of `root` (or, with root null, for some tree: any of its providers in any tree).
 */
function unnamedTraitsPossible(ctx: SearchContext, plan: GroupPlan, root: string | null): boolean {
  const g: RequestGroupInput = plan.group;
  if (g.required.length === 0 && g.anyOf.length === 0) return true;
  const someHas = (c: string) => {
    if (!ctx.snapshot.hasCapability(c)) return false;
    for (const byAnchor of plan.spread?.values() ?? []) {
      const lists = root === null ? byAnchor.values() : [byAnchor.get(root) ?? []];
      for (const list of lists) for (const u of list) if (ctx.capabilities(u).has(c)) return true;
    }
    return false;
  };
  return g.required.every(someHas) && g.anyOf.every((set) => set.some(someHas));
}

/** Stage 2: the viable anchor roots, by root name; `steps` receives what each filter removed. */
export function viableTrees(
  ctx: SearchContext,
  plans: readonly GroupPlan[],
  steps: FilterStepRecord[],
): string[] {
  const sets = plans.map(anchorsOf);
  const all = new Set<string>();
  for (const s of sets) for (const a of s) all.add(a);
  let pool = narrowTrees(
    steps,
    [...all].sort(ctx.byName),
    "trees",
    "no tree serves every group",
    (a) => sets.every((s) => s.has(a)),
  );
  const q = ctx.query;
  const forbidden = q.forbiddenTrees;
  if (forbidden && forbidden.size > 0)
    pool = narrowTrees(
      steps,
      pool,
      "forbidden_trees",
      "every tree left is forbidden",
      (a) => !forbidden.has(a),
    );
  if (q.rootRequired.length > 0 || q.rootForbidden.length > 0)
    pool = narrowTrees(
      steps,
      pool,
      "root_required",
      "no tree root has the required capabilities",
      (a) => {
        const caps = ctx.capabilities(a);
        return (
          q.rootRequired.every((c) => caps.has(c)) && q.rootForbidden.every((c) => !caps.has(c))
        );
      },
    );
  const unnamed = plans.find((p) => p.spread !== null);
  if (unnamed && (unnamed.group.required.length > 0 || unnamed.group.anyOf.length > 0)) {
    // A capability no provider of any tree offers rules out every tree at once (the same step,
    // without a pass per tree: an unsatisfiable query used to spend most of its time here).
    const anywhere = unnamedTraitsPossible(ctx, unnamed, null);
    pool = narrowTrees(
      steps,
      pool,
      "required",
      "no tree's providers have the required capabilities",
      (a) => anywhere && unnamedTraitsPossible(ctx, unnamed, a),
    );
  }
  for (const d of q.distance) {
    const targets = consumerGroups(ctx, d);
    pool = narrowTrees(
      steps,
      pool,
      "distance",
      `no tree in ${d.relation === "same" ? "the same" : "a different"} ${d.level} as ${d.consumers.join(", ")}`,
      (a) => meetsDistance(ctx, a, d, targets),
    );
  }
  return pool;
}

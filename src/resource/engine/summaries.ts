/**
 * Provider summaries and explanations: what FindCandidates returns beside the candidates.
 */
import {
  type CandidateRecord,
  capacityOf,
  type ExplanationRecord,
  type FilterStepRecord,
  type ProviderRecord,
  type ProviderSummaryRecord,
} from "../model.js";
import type { SearchContext } from "./context.js";

/** What a provider's summary takes from its record alone: classes with capacity, capabilities. */
interface FixedParts {
  classes: readonly (readonly [string, number])[];
  capabilities: readonly string[];
}

/** Per record (records are immutable: a change replaces the record), sorted once. */
const fixedCache = new WeakMap<ProviderRecord, FixedParts>();

function fixedParts(p: ProviderRecord): FixedParts {
  let fixed = fixedCache.get(p);
  if (!fixed) {
    fixed = {
      classes: [...p.inventories.values()]
        .sort((a, b) => (a.resourceClass < b.resourceClass ? -1 : 1))
        .map((inv) => [inv.resourceClass, capacityOf(inv)] as const),
      capabilities: [...p.capabilities].sort(),
    };
    fixedCache.set(p, fixed);
  }
  return fixed;
}

/**
 * Every provider of every tree a candidate touches (the trees of the providers in its
 * allocations and mappings, so sharing providers' trees too), trees by root name, each depth
 * first — as Placement, which summarises whole trees, not only the providers used.
 */
export function summarize(
  ctx: SearchContext,
  candidates: readonly CandidateRecord[],
): ProviderSummaryRecord[] {
  const roots = new Set<string>();
  for (const c of candidates) {
    for (const u of c.allocations.keys()) roots.add(ctx.provider(u).rootUuid);
    for (const list of c.mappings.values())
      for (const u of list) roots.add(ctx.provider(u).rootUuid);
  }
  return [...roots].sort(ctx.byName).flatMap((root) => treeSummary(ctx, root));
}

/** The summaries of one tree's providers, depth first. */
export function treeSummary(ctx: SearchContext, root: string): ProviderSummaryRecord[] {
  return ctx.tree(root).map((uuid) => {
    const p = ctx.provider(uuid);
    const fixed = fixedParts(p);
    return {
      uuid,
      name: p.name,
      parentUuid: p.parentUuid,
      rootUuid: p.rootUuid,
      resources: fixed.classes.map(([resourceClass, capacity]) => ({
        resourceClass,
        capacity,
        used: ctx.used(uuid, resourceClass),
      })),
      capabilities: fixed.capabilities,
    };
  });
}

/**
 * Why nothing was found: the first filter step that left nothing names the constraint, with how
 * many providers (or trees) it removed; if every filter left something, the combination of
 * groups failed (merged capacity, group_policy, same_subtree or the unnamed group's
 * capabilities on the chosen providers).
 */
export function explain(
  steps: readonly FilterStepRecord[],
  budgetExhausted: boolean,
): ExplanationRecord {
  const empty =
    steps.find((s) => s.after === 0 && s.before > 0) ?? steps.find((s) => s.after === 0);
  if (empty) {
    const who = empty.suffix === "" ? "" : `group ${empty.suffix}: `;
    const what = empty.trees ? "trees" : "providers";
    return {
      summary: `${who}${empty.detail} (${empty.constraint}: ${empty.before - empty.after} ${what} removed)`,
      steps,
    };
  }
  const summary = budgetExhausted
    ? "search budget exhausted before a combination was found"
    : "no combination of providers satisfies every group together " +
      "(merged capacity, group_policy, same_subtree or the unnamed group's capabilities)";
  return { summary, steps };
}

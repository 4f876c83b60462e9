/**
 * The candidate search (DESIGN.md §5): Placement 1.39's GET /allocation_candidates over a
 * Snapshot, as a pipeline of small stages, cheapest and most selective first (Nomad-style):
 *
 *  1. filter providers per group (eligibility.ts): region, in_tree, free capacity per class
 *     with min/max/step, capabilities, member_of — each a linear pass over providers, recorded
 *     for the explanation;
 *  2. expand trees and sharing (trees.ts): which anchor roots every group can use (sharing
 *     providers serve every tree they share a group with), then per-tree filters
 *     (root_required, the unnamed group's capabilities, distance) — still no combinations;
 *  3. combine groups per tree (combine.ts): depth-first, with merged capacity checked as each
 *     group is placed, isolate/same_subtree pruning and a feasibility look-ahead;
 *  4. limit: the combination generators are lazy, so the search stops at `limit` distinct
 *     candidates; identical candidates reached from different trees (only sharing providers
 *     used) are returned once, as Placement dedupes equal allocation requests.
 *
 * Output is deterministic: trees by root name, then providers by name within each group.
 */
import { MulliganError } from "../../platform/errors.js";
import type { CandidateRecord, FilterStepRecord, QueryInput, SearchResult } from "../model.js";
import { type Budget, combineTree } from "./combine.js";
import { SearchContext } from "./context.js";
import { planGroup } from "./eligibility.js";
import { checkQueryShape, effectiveGroups } from "./shape.js";
import type { Snapshot } from "./snapshot.js";
import { explain, summarize } from "./summaries.js";
import { viableTrees } from "./trees.js";

export { checkQueryShape } from "./shape.js";

/** Depth-first nodes one search may visit before it gives up (bounded work, always). */
export const SEARCH_BUDGET = 200_000;

/** A stable identity for a candidate, to drop duplicates reached from several trees. */
function identity(c: CandidateRecord): string {
  return JSON.stringify([[...c.allocations], [...c.mappings]]);
}

/**
 * Finds up to `query.limit` candidates (0 = all, within SEARCH_BUDGET). Throws INVALID_ARGUMENT
 * if the query breaks a shape rule (the validators normally catch those first).
 */
export function findCandidates(snapshot: Snapshot, query: QueryInput): SearchResult {
  const violations = checkQueryShape(query);
  const first = violations[0];
  if (first)
    throw new MulliganError(
      "INVALID_ARGUMENT",
      first.reason,
      violations.map((v) => `${v.field}: ${v.description}`).join("; "),
      violations,
    );
  const ctx = new SearchContext(snapshot, query);
  const steps: FilterStepRecord[] = [];
  const plans = effectiveGroups(query).map((g) => planGroup(ctx, g, steps));
  const trees = viableTrees(ctx, plans, steps);
  const budget: Budget = { left: SEARCH_BUDGET };
  const seen = new Set<string>();
  const candidates: CandidateRecord[] = [];
  search: for (const anchor of trees) {
    for (const c of combineTree(ctx, plans, anchor, budget)) {
      const id = identity(c);
      if (seen.has(id)) continue;
      seen.add(id);
      candidates.push(c);
      if (query.limit > 0 && candidates.length >= query.limit) break search;
    }
    if (budget.left < 0) break;
  }
  if (candidates.length === 0)
    return { candidates, summaries: [], explanation: explain(steps, budget.left < 0) };
  return { candidates, summaries: summarize(ctx, candidates), explanation: null };
}

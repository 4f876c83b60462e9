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
 * Bounded work for small limits: with a limit, stages 1–3 run over a few trees at a time (in
 * root-name order, the sharing providers always in the pool), in batches that double from
 * FIRST_BATCH roots, and stop as soon as `limit` candidates are found — a limit-1 search over
 * 70,000 providers looks at the first few trees only. The answer is the same as one pass over
 * every tree: trees are anchored on roots, batches partition the roots in output order, and
 * everything a tree's candidates depend on (its providers, the sharing providers, groups and
 * usage) is in its batch. When the first LAZY_ROOTS trees do not give `limit` candidates, the
 * first EMPTY_ROOTS give none at all, or without a limit, the search runs once over the whole
 * fleet, which also yields the explanation of an empty answer.
 *
 * Output is deterministic: trees by root name, then providers by name within each group.
 */
import { MulliganError } from "../../platform/errors.js";
import type { CandidateRecord, FilterStepRecord, QueryInput, SearchResult } from "../model.js";
import { type Budget, combineTree } from "./combine.js";
import { SearchContext } from "./context.js";
import { missingCapability, planGroup } from "./eligibility.js";
import { checkQueryShape, effectiveGroups } from "./shape.js";
import type { Snapshot } from "./snapshot.js";
import { explain, summarize } from "./summaries.js";
import { viableTrees } from "./trees.js";

export { checkQueryShape } from "./shape.js";

/** Depth-first nodes one search may visit before it gives up (bounded work, always). */
export const SEARCH_BUDGET = 200_000;

/**
 * A stable identity for a candidate that only sharing providers make up, to drop duplicates
 * reached from several trees; null for any other candidate. A candidate using a provider of its
 * anchor tree can be reached from that tree only, and one tree never yields the same candidate
 * twice (each yield is a different choice of providers per class and group), so only these
 * need the (costly) identity.
 */
function identity(ctx: SearchContext, c: CandidateRecord): string | null {
  for (const u of c.allocations.keys()) if (!ctx.shares(u)) return null;
  for (const list of c.mappings.values()) for (const u of list) if (!ctx.shares(u)) return null;
  return JSON.stringify([[...c.allocations], [...c.mappings]]);
}

/** Adds the candidate unless an identical one was found already; false if it was. */
function addNew(
  ctx: SearchContext,
  seen: Set<string>,
  candidates: CandidateRecord[],
  c: CandidateRecord,
): boolean {
  const id = identity(ctx, c);
  if (id !== null) {
    if (seen.has(id)) return false;
    seen.add(id);
  }
  candidates.push(c);
  return true;
}

/**
 * Finds up to `query.limit` candidates (0 = all, within SEARCH_BUDGET). Throws INVALID_ARGUMENT
 * if the query breaks a shape rule (the validators normally catch those first).
 */
export function findCandidates(
  snapshot: Snapshot,
  query: QueryInput,
  options: { summaries: boolean } = { summaries: true },
): SearchResult {
  assertShape(query);
  // The lazy search pays per batch; a group no provider can serve (missingCapability) is known
  // to find nothing without it, and the whole-fleet pass explains it at once.
  const hopeless = effectiveGroups(query).some((g) => missingCapability(snapshot, g) !== null);
  if (query.limit > 0 && !hopeless) {
    const found = findInBatches(snapshot, query);
    if (found.length >= query.limit)
      return {
        candidates: found,
        summaries: options.summaries ? summarize(new SearchContext(snapshot, query), found) : [],
        explanation: null,
      };
  }
  return findEverywhere(snapshot, query, options.summaries);
}

/**
 * Every candidate of some trees (null: of every tree), by anchor root, ignoring the query's
 * limit: stages 1–3 as one search over those trees (a tree's candidates are the ones a search
 * over the whole fleet gives it, in the same order). Only for queries whose candidates depend
 * on their own tree alone — no sharing providers in the snapshot, no distance constraint (the
 * caller checks: see kept-search.ts). Trees without a candidate are absent. Null when the
 * search ran out of its budget (default SEARCH_BUDGET) or a tree has more than `maxPerTree`
 * candidates (the caller then searches as findCandidates does).
 */
export function candidatesByTree(
  snapshot: Snapshot,
  query: QueryInput,
  roots: readonly string[] | null,
  budget: Budget = { left: SEARCH_BUDGET },
  maxPerTree = Number.POSITIVE_INFINITY,
): Map<string, CandidateRecord[]> | null {
  assertShape(query);
  const ctx = roots === null ? new SearchContext(snapshot, query) : scoped(snapshot, query, roots);
  const steps: FilterStepRecord[] = [];
  const plans = effectiveGroups(query).map((g) => planGroup(ctx, g, steps));
  const out = new Map<string, CandidateRecord[]>();
  for (const anchor of viableTrees(ctx, plans, steps)) {
    const found: CandidateRecord[] = [];
    for (const c of combineTree(ctx, plans, anchor, budget))
      if (found.push(c) > maxPerTree) return null;
    if (budget.left < 0) return null;
    if (found.length > 0) out.set(anchor, found);
  }
  return out;
}

/** A search bounded to some trees: their providers and the sharing providers, by name. */
function scoped(snapshot: Snapshot, query: QueryInput, roots: readonly string[]): SearchContext {
  const whole = new SearchContext(snapshot, query);
  const pool = new Set<string>(snapshot.sharingProviders());
  for (const root of roots) for (const u of whole.tree(root)) pool.add(u);
  return new SearchContext(snapshot, query, {
    pool: whole.sortByName(pool),
    roots: new Set(roots),
  });
}

/** Roots of the first batch of the lazy search; each later batch doubles, up to MAX_BATCH. */
const FIRST_BATCH = 4;
const MAX_BATCH = 1024;
/**
 * Roots the lazy search looks at before it hands over to one pass over the whole fleet: a query
 * that finds nothing early (rare candidates, or none at all) then costs at most a fraction more
 * than that pass, which it needs anyway for the explanation.
 */
const LAZY_ROOTS = 2048;
/**
 * Roots after which a lazy search that found nothing at all hands over to the whole-fleet pass:
 * an unsatisfiable (or very rare) query would otherwise pay for LAZY_ROOTS trees first.
 */
const EMPTY_ROOTS = 60;

/**
 * How many roots a lazy search that has looked at the first `from` (and found `found`
 * candidates there) looks at next — batches double from FIRST_BATCH up to MAX_BATCH — or null
 * when it should hand over to one pass over the rest of the fleet (past LAZY_ROOTS, or past
 * EMPTY_ROOTS with nothing found).
 */
export function lazyBatch(from: number, found: number): number | null {
  if (from >= LAZY_ROOTS || (found === 0 && from >= EMPTY_ROOTS)) return null;
  return Math.min(from + FIRST_BATCH, MAX_BATCH);
}

/**
 * Stages 1–3 over batches of the first trees (lazyBatch) until `limit` candidates are found;
 * fewer found means the caller searches the whole fleet (the candidates found here come first
 * there too).
 */
function findInBatches(snapshot: Snapshot, query: QueryInput): CandidateRecord[] {
  const roots = snapshot.rootsByName();
  const groups = effectiveGroups(query);
  const budget: Budget = { left: SEARCH_BUDGET };
  const seen = new Set<string>();
  const candidates: CandidateRecord[] = [];
  for (let from = 0; from < roots.length; ) {
    const size = lazyBatch(from, candidates.length);
    if (size === null) return candidates;
    const ctx = scoped(snapshot, query, roots.slice(from, from + size));
    from += size;
    const steps: FilterStepRecord[] = [];
    const plans = groups.map((g) => planGroup(ctx, g, steps));
    for (const anchor of viableTrees(ctx, plans, steps)) {
      for (const c of combineTree(ctx, plans, anchor, budget)) {
        if (!addNew(ctx, seen, candidates, c)) continue;
        if (candidates.length >= query.limit) return candidates;
      }
      if (budget.left < 0) return candidates;
    }
  }
  return candidates;
}

/** Throws INVALID_ARGUMENT if the query breaks a shape rule. */
function assertShape(query: QueryInput): void {
  const violations = checkQueryShape(query);
  const first = violations[0];
  if (first)
    throw new MulliganError(
      "INVALID_ARGUMENT",
      first.reason,
      violations.map((v) => `${v.field}: ${v.description}`).join("; "),
      violations,
    );
}

/** Stages 1–3 over the whole fleet, recording every filter step for the explanation. */
function findEverywhere(snapshot: Snapshot, query: QueryInput, summaries: boolean): SearchResult {
  const ctx = new SearchContext(snapshot, query);
  const steps: FilterStepRecord[] = [];
  const plans = effectiveGroups(query).map((g) => planGroup(ctx, g, steps));
  const trees = viableTrees(ctx, plans, steps);
  const budget: Budget = { left: SEARCH_BUDGET };
  const seen = new Set<string>();
  const candidates: CandidateRecord[] = [];
  search: for (const anchor of trees) {
    for (const c of combineTree(ctx, plans, anchor, budget)) {
      if (!addNew(ctx, seen, candidates, c)) continue;
      if (query.limit > 0 && candidates.length >= query.limit) break search;
    }
    if (budget.left < 0) break;
  }
  if (candidates.length === 0)
    return { candidates, summaries: [], explanation: explain(steps, budget.left < 0) };
  return { candidates, summaries: summaries ? summarize(ctx, candidates) : [], explanation: null };
}

/**
 * ClaimBest's search, kept between calls and brought up to date tree by tree. A claim changes the
 * usage of one tree; searching the whole fleet again for the next claim (and weighing every
 * candidate again) made the search most of a claim's cost on a fleet of a few hundred hosts.
 *
 * A kept search holds, per anchor tree, its candidates with their scores (weigh.ts), made at one
 * shape and round of the fleet index (ChangeJournal). On the next call for the same query it
 * re-searches only the trees whose usage changed since (and the `suspects` a caller names: trees
 * whose candidate a claim just found taken), and the answer is the one a new search would give.
 * The search is done again from scratch when:
 *
 * - the shape changed (providers, inventories, capabilities, groups, a sharing provider's usage);
 * - the journal no longer reaches back to the kept round;
 * - it is older than KEPT_MS — a query whose window starts "now" moves with the clock, and an
 *   allocation whose window ended frees capacity without any change being logged. The database
 *   re-checks every claim, so a candidate kept a little too long only costs a retry.
 *
 * Only when a tree's candidates depend on that tree alone: without sharing providers in the
 * fleet (a sharing provider serves many trees) and without distance constraints (they depend on
 * other consumers' trees). Otherwise, and on snapshots without a journal, every call searches
 * the whole fleet, as FindCandidates does.
 */
import type { ExplanationRecord, QueryInput } from "../model.js";
import { candidatesByTree, findCandidates } from "./candidates.js";
import { type ChangeJournal, journalOf, type Snapshot } from "./snapshot.js";
import { freeAfter, type Scored } from "./weigh.js";

/** Distinct queries kept per snapshot (least recently used dropped). */
const KEPT_QUERIES = 16;
/** A kept search older than this is done again. */
export const KEPT_MS = 1000;

interface Kept {
  shape: number;
  round: number;
  at: number;
  /** Anchor root → its candidates, scored; trees without a candidate are absent. */
  trees: Map<string, Scored[]>;
}

const keptBySnapshot = new WeakMap<Snapshot, Map<string, Kept>>();

/** Every candidate of the query with its score, in the search's order; the explanation if none. */
export interface ScoredSearch {
  scored: Scored[];
  explanation: ExplanationRecord | null;
}

/**
 * The candidates of `query` (identified by `key`: equal keys must mean equal queries, apart
 * from a window start of "now") with their scores on current usage.
 */
export function keptSearch(
  snapshot: Snapshot,
  key: string,
  query: QueryInput,
  suspects: Iterable<string> = [],
  now: number = performance.now(),
): ScoredSearch {
  const journal = journalOf(snapshot);
  if (!journal || query.distance.length > 0 || snapshot.sharingProviders().length > 0)
    return searchAll(snapshot, query);
  let byKey = keptBySnapshot.get(snapshot);
  if (!byKey) {
    byKey = new Map();
    keptBySnapshot.set(snapshot, byKey);
  }
  // Searches past their age are dropped, not only replaced: they can hold a lot of candidates.
  for (const [k, old] of byKey) if (now - old.at >= KEPT_MS) byKey.delete(k);
  let kept = byKey.get(key);
  byKey.delete(key);
  kept = kept && update(snapshot, journal, kept, query, suspects, now);
  if (!kept) {
    const trees = scoreTrees(snapshot, query, null);
    if (!trees) return searchAll(snapshot, query);
    kept = { shape: journal.shape, round: journal.rounds, at: now, trees };
  }
  byKey.set(key, kept);
  if (byKey.size > KEPT_QUERIES) {
    const oldest = byKey.keys().next().value;
    if (oldest !== undefined) byKey.delete(oldest);
  }
  const scored: Scored[] = [];
  const limit = query.limit > 0 ? query.limit : Number.POSITIVE_INFINITY;
  for (const root of snapshot.rootsByName()) {
    const list = kept.trees.get(root);
    if (!list) continue;
    for (const s of list) {
      if (scored.length >= limit) break;
      scored.push(s);
    }
  }
  if (scored.length > 0) return { scored, explanation: null };
  // Nothing fits: the whole-fleet search says why (and confirms there is nothing).
  return searchAll(snapshot, query);
}

/** The kept search brought up to date, or undefined when it must be done again. */
function update(
  snapshot: Snapshot,
  journal: ChangeJournal,
  kept: Kept,
  query: QueryInput,
  suspects: Iterable<string>,
  now: number,
): Kept | undefined {
  if (kept.shape !== journal.shape || now - kept.at >= KEPT_MS) return undefined;
  const changed = journal.usageChangedSince(kept.round);
  if (!changed) return undefined;
  const roots = new Set(changed);
  for (const r of suspects) if (snapshot.providers.get(r)?.parentUuid === null) roots.add(r);
  kept.round = journal.rounds;
  if (roots.size === 0) return kept;
  const list = [...roots];
  const fresh = scoreTrees(snapshot, query, list);
  if (!fresh) return undefined;
  for (const root of list) {
    const s = fresh.get(root);
    if (s) kept.trees.set(root, s);
    else kept.trees.delete(root);
  }
  return kept;
}

/** Candidates of some trees (null: all) with their scores; null past the search budget. */
function scoreTrees(
  snapshot: Snapshot,
  query: QueryInput,
  roots: readonly string[] | null,
): Map<string, Scored[]> | null {
  const trees = candidatesByTree(snapshot, query, roots);
  if (!trees) return null;
  const out = new Map<string, Scored[]>();
  for (const [root, candidates] of trees)
    out.set(
      root,
      candidates.map((candidate) => ({ candidate, free: freeAfter(snapshot, candidate, query) })),
    );
  return out;
}

/** The whole-fleet search, scored (nothing kept). */
function searchAll(snapshot: Snapshot, query: QueryInput): ScoredSearch {
  const result = findCandidates(snapshot, query, { summaries: false });
  return {
    scored: result.candidates.map((candidate) => ({
      candidate,
      free: freeAfter(snapshot, candidate, query),
    })),
    explanation: result.explanation,
  };
}

/**
 * Searches kept between calls and brought up to date tree by tree, for ClaimBest and
 * FindCandidates. A claim changes the usage of one tree; searching the whole fleet again for the
 * next call (and weighing every candidate again) made the search most of a claim's cost, and most
 * of a limited FindCandidates' cost on a large fleet.
 *
 * A kept search holds, per anchor tree, its candidates with their scores (weigh.ts) and, once
 * asked for, the summaries of the tree's providers, made at one shape and round of the fleet
 * index (ChangeJournal). It covers the first trees in root-name order: a query with a limit
 * searches further, in the lazy search's batches (candidates.ts lazyBatch), only while the trees
 * covered give fewer than `limit` candidates, so its first call costs what findCandidates' lazy
 * search costs and later calls only their changed trees. On the next call for the same query it
 * re-searches only the covered trees whose usage changed since (and the `suspects` a caller
 * names: trees whose candidate a claim just found taken), and the answer is the one a new search
 * would give. The search is done again from scratch when:
 *
 * - the shape changed (providers, inventories, capabilities, groups, a sharing provider's usage);
 * - the journal no longer reaches back to the kept round;
 * - its answer may have moved with the clock and it is older than the caller accepts. Only a
 *   window that starts "now" moves, and only when an allocation ends after the kept search's
 *   start (an allocation whose window ends frees capacity without any change being logged; see
 *   ChangeJournal.latestEnd). ClaimBest accepts KEPT_MS: the database re-checks every claim, so
 *   a candidate kept a little too long only costs a retry. FindCandidates accepts nothing: it
 *   searches without keeping while an allocation ends after its window's start.
 *
 * Only when a tree's candidates depend on that tree alone: without sharing providers in the
 * fleet (a sharing provider serves many trees) and without distance constraints (they depend on
 * other consumers' trees). Otherwise, and on snapshots without a journal, every call searches
 * the whole fleet, as findCandidates does.
 *
 * A query whose trees have more than KEPT_PER_TREE candidates each (wide trees), or whose
 * search runs out of budget, is not kept: every call searches as findCandidates does, until the
 * fleet's shape changes.
 *
 * Memory: a search unused for IDLE_MS is dropped; per snapshot at most KEPT_QUERIES searches and
 * KEPT_ENTRIES candidates and summaries are kept, the least recently used dropped first.
 */
import type { ExplanationRecord, ProviderSummaryRecord, QueryInput } from "../model.js";
import { candidatesByTree, findCandidates, lazyBatch, SEARCH_BUDGET } from "./candidates.js";
import type { Budget } from "./combine.js";
import { SearchContext } from "./context.js";
import { missingCapability } from "./eligibility.js";
import { effectiveGroups } from "./shape.js";
import { type ChangeJournal, journalOf, type Snapshot } from "./snapshot.js";
import { summarize, treeSummary } from "./summaries.js";
import { freeAfter, type Scored } from "./weigh.js";

/** Distinct queries kept per snapshot. */
const KEPT_QUERIES = 16;
/** Candidates and provider summaries kept per snapshot, over all its kept searches. */
const KEPT_ENTRIES = 300_000;
/**
 * Candidates one tree may have in a kept search. A wide tree (a host with many one-unit devices
 * asked in isolated groups) has thousands, each a different choice of devices; keeping them all
 * costs far more than findCandidates, which stops at the limit.
 */
const KEPT_PER_TREE = 256;
/** A kept search unused this long is dropped. */
const IDLE_MS = 60_000;
/** How old ClaimBest's kept search may be when its answer moves with the clock. */
export const KEPT_MS = 1000;

interface Kept {
  shape: number;
  round: number;
  /** The window start of the call that searched it from scratch. */
  start: string;
  /** When it was searched from scratch (its age, when the answer moves with the clock). */
  made: number;
  /** When it was last used. */
  used: number;
  /** Trees covered: the first `covered` roots of snapshot.rootsByName(). */
  covered: number;
  /** Anchor root → its candidates, scored; covered trees without a candidate are absent. */
  trees: Map<string, Scored[]>;
  /** Anchor root → its providers' summaries, made when first asked for. */
  summaries: Map<string, ProviderSummaryRecord[]>;
  /** Candidates and summaries held (the memory bound). */
  entries: number;
}

const keptBySnapshot = new WeakMap<Snapshot, Map<string, Kept>>();
/** Queries found not worth keeping (KEPT_PER_TREE, or the search budget), by fleet shape. */
const unkeptBySnapshot = new WeakMap<Snapshot, Map<string, number>>();

export interface KeptOptions {
  /** The query's window starts "now" (it was not given): its answer may move with the clock. */
  startsNow: boolean;
  /** How old (ms) a kept search may be when its answer moves with the clock; 0: never kept. */
  staleMs: number;
  /** Trees whose candidate was found taken: searched again even if the journal saw no change. */
  suspects?: Iterable<string>;
  /** The clock (performance.now() unless given). */
  now?: number;
}

/** Every candidate of the query up to its limit with its score, in the search's order. */
export interface KeptAnswer {
  scored: Scored[];
  /** Why nothing was found (when nothing was). */
  explanation: ExplanationRecord | null;
  /**
   * The summaries of the candidates' trees, as summaries.ts's summarize gives them; call it
   * before the snapshot changes (the fleet index changes in place between awaits).
   */
  summaries(): ProviderSummaryRecord[];
}

/**
 * The candidates of `query` (identified by `key`: equal keys must mean equal queries apart from
 * their limit and a window start of "now") with their scores on current usage.
 */
export function keptSearch(
  snapshot: Snapshot,
  key: string,
  query: QueryInput,
  options: KeptOptions,
): KeptAnswer {
  const journal = journalOf(snapshot);
  if (!journal || query.distance.length > 0 || snapshot.sharingProviders().length > 0)
    return searchAll(snapshot, query);
  // A group asking for a capability no provider has: nothing to keep, and findCandidates
  // answers (and explains) that at once.
  if (effectiveGroups(query).some((g) => missingCapability(snapshot, g) !== null))
    return searchAll(snapshot, query);
  // An allocation may still end after the window's start: the answer moves with the clock.
  const start = query.window.start;
  const ends = (from: string) =>
    options.startsNow && journal.latestEnd !== null && journal.latestEnd > from;
  if (ends(start) && options.staleMs <= 0) return searchAll(snapshot, query);
  const unkept = mapOf(unkeptBySnapshot, snapshot);
  if (unkept.get(key) === journal.shape) return searchAll(snapshot, query);
  const now = options.now ?? performance.now();
  const byKey = mapOf(keptBySnapshot, snapshot);
  for (const [k, old] of byKey) if (now - old.used >= IDLE_MS) byKey.delete(k);
  let kept = byKey.get(key);
  byKey.delete(key);
  if (
    !kept ||
    kept.shape !== journal.shape ||
    (ends(kept.start) && now - kept.made >= options.staleMs) ||
    !refresh(snapshot, journal, kept, query, options.suspects ?? [])
  )
    kept = {
      shape: journal.shape,
      round: journal.rounds,
      start,
      made: now,
      used: now,
      covered: 0,
      trees: new Map(),
      summaries: new Map(),
      entries: 0,
    };
  const k = kept;
  k.used = now;
  const found = collect(snapshot, k, query);
  // Past the search budget, or a tree with too many candidates: the whole-fleet search decides,
  // and this query is not kept until the fleet's shape changes.
  if (!found) {
    unkept.set(key, journal.shape);
    if (unkept.size > KEPT_QUERIES) unkept.delete(unkept.keys().next().value as string);
    return searchAll(snapshot, query);
  }
  byKey.set(key, k);
  trim(byKey);
  // Nothing fits: the whole-fleet search says why (and confirms there is nothing).
  if (found.scored.length === 0) return searchAll(snapshot, query);
  return {
    scored: found.scored,
    explanation: null,
    summaries: () => keptSummaries(snapshot, query, k, found.roots),
  };
}

/** The snapshot's map in `cache`, made empty on first use. */
function mapOf<V>(cache: WeakMap<Snapshot, Map<string, V>>, snapshot: Snapshot): Map<string, V> {
  let map = cache.get(snapshot);
  if (!map) {
    map = new Map();
    cache.set(snapshot, map);
  }
  return map;
}

/**
 * Brings a kept search of the same shape up to date: the covered trees whose usage changed, and
 * the covered suspects, searched again. False when it must be done again from scratch.
 */
function refresh(
  snapshot: Snapshot,
  journal: ChangeJournal,
  kept: Kept,
  query: QueryInput,
  suspects: Iterable<string>,
): boolean {
  const changed = journal.usageChangedSince(kept.round);
  if (!changed) return false;
  kept.round = journal.rounds;
  const last = snapshot.rootsByName()[kept.covered - 1];
  const lastRank = last === undefined ? -1 : snapshot.rank(last);
  const covered = (root: string) =>
    snapshot.providers.get(root)?.parentUuid === null && snapshot.rank(root) <= lastRank;
  const stale = new Set<string>();
  for (const r of changed) if (covered(r)) stale.add(r);
  for (const r of suspects) if (covered(r)) stale.add(r);
  if (stale.size === 0) return true;
  const list = [...stale];
  const fresh = scoreTrees(snapshot, query, list, { left: SEARCH_BUDGET });
  // (Too many candidates now: searched again from scratch, where collect gives up.)
  if (!fresh) return false;
  for (const root of list) {
    kept.entries -= (kept.trees.get(root)?.length ?? 0) + (kept.summaries.get(root)?.length ?? 0);
    kept.summaries.delete(root);
    const s = fresh.get(root);
    if (s) {
      kept.trees.set(root, s);
      kept.entries += s.length;
    } else kept.trees.delete(root);
  }
  return true;
}

/**
 * The first `limit` candidates (all without a limit) in root-name order, and the roots they are
 * anchored on; covers more trees, batch by batch, while the covered ones give too few. Null when
 * a batch ran out of the search budget.
 */
function collect(
  snapshot: Snapshot,
  kept: Kept,
  query: QueryInput,
): { scored: Scored[]; roots: string[] } | null {
  const roots = snapshot.rootsByName();
  const limit = query.limit > 0 ? query.limit : Number.POSITIVE_INFINITY;
  const scored: Scored[] = [];
  const anchors: string[] = [];
  const budget: Budget = { left: SEARCH_BUDGET };
  for (let i = 0; ; ) {
    for (; i < kept.covered && scored.length < limit; i++) {
      const root = roots[i] as string;
      const list = kept.trees.get(root);
      if (!list) continue;
      anchors.push(root);
      for (const s of list) {
        if (scored.length >= limit) break;
        scored.push(s);
      }
    }
    if (scored.length >= limit || kept.covered >= roots.length) return { scored, roots: anchors };
    const rest = roots.length - kept.covered;
    const size =
      limit < Number.POSITIVE_INFINITY ? (lazyBatch(kept.covered, scored.length) ?? rest) : rest;
    const batch =
      kept.covered === 0 && size >= roots.length
        ? null
        : roots.slice(kept.covered, kept.covered + size);
    const fresh = scoreTrees(snapshot, query, batch, budget);
    if (!fresh) return null;
    for (const [root, list] of fresh) {
      kept.trees.set(root, list);
      kept.entries += list.length;
    }
    kept.covered = Math.min(roots.length, kept.covered + size);
  }
}

/** The summaries of the given trees, in that order, made once per tree while it is unchanged. */
function keptSummaries(
  snapshot: Snapshot,
  query: QueryInput,
  kept: Kept,
  roots: readonly string[],
): ProviderSummaryRecord[] {
  const ctx = new SearchContext(snapshot, query);
  const out: ProviderSummaryRecord[] = [];
  for (const root of roots) {
    let list = kept.summaries.get(root);
    if (!list) {
      list = treeSummary(ctx, root);
      kept.summaries.set(root, list);
      kept.entries += list.length;
    }
    for (const s of list) out.push(s);
  }
  return out;
}

/** Drops the least recently used searches past KEPT_QUERIES or KEPT_ENTRIES (never the last). */
function trim(byKey: Map<string, Kept>): void {
  let entries = 0;
  for (const kept of byKey.values()) entries += kept.entries;
  for (const [key, kept] of byKey) {
    if (byKey.size <= 1 || (byKey.size <= KEPT_QUERIES && entries <= KEPT_ENTRIES)) break;
    byKey.delete(key);
    entries -= kept.entries;
  }
}

/**
 * Candidates of some trees (null: all) with their scores; null past the search budget or
 * KEPT_PER_TREE.
 */
function scoreTrees(
  snapshot: Snapshot,
  query: QueryInput,
  roots: readonly string[] | null,
  budget: Budget,
): Map<string, Scored[]> | null {
  const trees = candidatesByTree(snapshot, query, roots, budget, KEPT_PER_TREE);
  if (!trees) return null;
  const out = new Map<string, Scored[]>();
  for (const [root, candidates] of trees)
    out.set(
      root,
      candidates.map((candidate) => ({ candidate, free: freeAfter(snapshot, candidate, query) })),
    );
  return out;
}

/** The whole-fleet search (findCandidates), scored; nothing kept. */
function searchAll(snapshot: Snapshot, query: QueryInput): KeptAnswer {
  const result = findCandidates(snapshot, query, { summaries: false });
  return {
    scored: result.candidates.map((candidate) => ({
      candidate,
      free: freeAfter(snapshot, candidate, query),
    })),
    explanation: result.explanation,
    summaries: () => summarize(new SearchContext(snapshot, query), result.candidates),
  };
}

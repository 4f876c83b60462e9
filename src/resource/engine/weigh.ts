/**
 * Weighers for ClaimBest: order candidates best first. The score of a candidate is the mean,
 * over every (provider, class) it allocates, of the fraction of capacity still free after the
 * claim; pack prefers the lowest (fill the fullest providers), spread the highest, random_top_k
 * shuffles the best k by spread (so concurrent schedulers rarely pick the same provider) and
 * keeps the rest in spread order as fallbacks. Ties keep the search's deterministic order.
 */
import { type CandidateRecord, capacityOf, type QueryInput } from "../model.js";
import type { Snapshot } from "./snapshot.js";

export type WeigherName = "pack" | "spread" | "random_top_k";

/** A candidate with its score: the mean fraction of capacity free after it is claimed. */
export interface Scored {
  candidate: CandidateRecord;
  free: number;
}

/** The candidate's score on the snapshot's current usage. */
export function freeAfter(snapshot: Snapshot, c: CandidateRecord, query: QueryInput): number {
  let sum = 0;
  let n = 0;
  for (const [uuid, resources] of c.allocations) {
    const p = snapshot.providers.get(uuid);
    for (const [rc, amount] of Object.entries(resources)) {
      const inv = p?.inventories.get(rc);
      const capacity = inv ? capacityOf(inv) : 0;
      if (capacity <= 0) continue;
      const used = snapshot.used(uuid, rc, query.window);
      sum += (capacity - used - amount) / capacity;
      n++;
    }
  }
  return n === 0 ? 0 : sum / n;
}

/** Candidates ordered best first by the weigher; `rng` (default Math.random) for random_top_k. */
export function weigh(
  snapshot: Snapshot,
  candidates: readonly CandidateRecord[],
  query: QueryInput,
  weigher: WeigherName,
  topK: number,
  rng: () => number = Math.random,
): CandidateRecord[] {
  const scored = candidates.map((candidate) => ({
    candidate,
    free: freeAfter(snapshot, candidate, query),
  }));
  return best(scored, weigher, topK, scored.length, rng);
}

/**
 * The first `n` of the weigher's order of scored candidates (given in the search's order, which
 * breaks ties): what weigh() returns, cut at n, without ordering the rest — ClaimBest tries a
 * few candidates out of hundreds.
 */
export function best(
  scored: readonly Scored[],
  weigher: WeigherName,
  topK: number,
  n: number,
  rng: () => number = Math.random,
): CandidateRecord[] {
  const direction = weigher === "pack" ? 1 : -1;
  const k = Math.max(1, Math.min(topK, scored.length));
  const wanted = Math.min(scored.length, weigher === "random_top_k" ? Math.max(k, n) : n);
  const order = firstOrdered(scored, wanted, direction);
  const ordered = order.map((s) => s.candidate);
  if (weigher === "random_top_k") {
    const top = ordered.slice(0, k);
    for (let i = top.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      const a = top[i];
      const b = top[j];
      if (a === undefined || b === undefined) continue;
      top[i] = b;
      top[j] = a;
    }
    ordered.splice(0, k, ...top);
  }
  return ordered.slice(0, n);
}

/**
 * The `wanted` best of `scored`, in order: by free capacity (ascending for direction 1,
 * descending for -1), ties by position. A full sort when that is most of them.
 */
function firstOrdered(scored: readonly Scored[], wanted: number, direction: 1 | -1): Scored[] {
  const before = (i: number, j: number) => {
    const d = direction * ((scored[i] as Scored).free - (scored[j] as Scored).free);
    return d < 0 || (d === 0 && i < j);
  };
  if (wanted * 8 >= scored.length)
    return scored
      .map((_, i) => i)
      .sort((i, j) => (before(i, j) ? -1 : 1))
      .slice(0, wanted)
      .map((i) => scored[i] as Scored);
  // Insertion into a short sorted list; most entries lose to its last at one comparison.
  const out: number[] = [];
  for (let i = 0; i < scored.length; i++) {
    if (out.length === wanted && !before(i, out[wanted - 1] as number)) continue;
    let at = out.length === wanted ? wanted - 1 : out.length;
    while (at > 0 && before(i, out[at - 1] as number)) at--;
    if (out.length === wanted) out.pop();
    out.splice(at, 0, i);
  }
  return out.map((i) => scored[i] as Scored);
}

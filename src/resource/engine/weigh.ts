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

function freeAfter(snapshot: Snapshot, c: CandidateRecord, query: QueryInput): number {
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
  const scored = candidates.map((c, i) => ({ c, i, free: freeAfter(snapshot, c, query) }));
  const direction = weigher === "pack" ? 1 : -1;
  scored.sort((a, b) => direction * (a.free - b.free) || a.i - b.i);
  const ordered = scored.map((s) => s.c);
  if (weigher !== "random_top_k") return ordered;
  const k = Math.max(1, Math.min(topK, ordered.length));
  const top = ordered.slice(0, k);
  for (let i = top.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const a = top[i];
    const b = top[j];
    if (a === undefined || b === undefined) continue;
    top[i] = b;
    top[j] = a;
  }
  return [...top, ...ordered.slice(k)];
}

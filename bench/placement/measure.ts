/**
 * Times one query on each side: Placement's GET /allocation_candidates and Mulligan's
 * FindCandidates over gRPC, called one after another (no concurrency), and counts the
 * candidates each returns.
 *
 * Repetitions: one warm-up call, then up to `reps` timed calls until `budgetMs` is spent (at
 * least `minReps`). A first call slower than SLOW_MS is itself the first sample (no warm-up:
 * Placement's wide-tree queries take minutes), and `once` cases stop after it.
 */
import { performance } from "node:perf_hooks";
import { ResourceService } from "../../src/gen/mulligan/resource/v1/resource_pb.js";
import type { MulliganServer } from "../lib/server.js";
import { LatencyRecorder, round } from "../lib/stats.js";
import type { PlacementHttp } from "./http.js";
import { mulliganQuery, placementPath, type QuerySpec } from "./queries.js";

/** A first call slower than this is kept as a sample instead of being a warm-up. */
export const SLOW_MS = 5_000;

export interface RepeatPolicy {
  reps: number;
  minReps: number;
  budgetMs: number;
  /** Exactly one call, timed (for queries that take minutes). */
  once?: boolean;
}

export interface SideResult {
  p50_ms: number;
  n: number;
  candidates: number;
}

/** Calls `call` (which returns a candidate count) per the policy; p50 of the timed calls. */
async function repeat(call: () => Promise<number>, policy: RepeatPolicy): Promise<SideResult> {
  const rec = new LatencyRecorder();
  const start = performance.now();
  const timedCall = async () => {
    const t0 = performance.now();
    const count = await call();
    return { ms: performance.now() - t0, count };
  };
  const first = await timedCall();
  const candidates = first.count;
  if (policy.once || first.ms > SLOW_MS) rec.add(first.ms);
  while (
    !policy.once &&
    rec.n < policy.reps &&
    (rec.n < policy.minReps || performance.now() - start < policy.budgetMs)
  ) {
    const r = await timedCall();
    if (r.count !== candidates)
      process.stderr.write(`placement bench: candidate count changed ${candidates} → ${r.count}\n`);
    rec.add(r.ms);
  }
  const s = rec.summary();
  return { p50_ms: round(s.p50_ms, 3), n: s.n, candidates };
}

/** Times GET /allocation_candidates for `q`. */
export function timePlacement(
  http: PlacementHttp,
  q: QuerySpec,
  policy: RepeatPolicy,
): Promise<SideResult> {
  const path = placementPath(q);
  return repeat(async () => {
    const body = (await http.expect("GET", path, undefined, [200])) as {
      allocation_requests?: unknown[];
    };
    return body.allocation_requests?.length ?? 0;
  }, policy);
}

/** Times FindCandidates for `q`. */
export function timeMulligan(
  server: MulliganServer,
  q: QuerySpec,
  policy: RepeatPolicy,
): Promise<SideResult> {
  const res = server.client(ResourceService);
  const query = mulliganQuery(q);
  return repeat(
    async () => (await res.findCandidates({ query }, { timeoutMs: 3_600_000 })).candidates.length,
    policy,
  );
}

/**
 * The claim loop of Placement's perf gate (write_allocation in perfload-runner.sh), on both
 * sides, one client, K times in a row:
 * - Placement: GET /allocation_candidates (the flat query, limit 5), then
 *   PUT /allocations/{new consumer} with the first allocation request, consumer_generation null,
 *   project and user ids and consumer_type INSTANCE (required since 1.38);
 * - Mulligan: FindCandidates (same query, limit 5), then Claim with the first candidate for a
 *   new consumer (the caller's project and account).
 * Also, for reference, Mulligan's ClaimBest (find + claim in one call, pack weigher) K times;
 * those claims are released afterwards (untimed), so both sides keep K claims on the fleet.
 */
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { ResourceService, Weigher } from "../../src/gen/mulligan/resource/v1/resource_pb.js";
import type { MulliganServer } from "../lib/server.js";
import { round } from "../lib/stats.js";
import type { PlacementHttp } from "./http.js";
import { mulliganQuery, placementPath, type QuerySpec } from "./queries.js";

export interface ClaimLoopResult {
  k: number;
  placement_claims_per_s: number;
  mulligan_claims_per_s: number;
  /** Mulligan / Placement claims per second. */
  ratio: number;
  mulligan_claim_best_per_s: number;
}

async function perSecond(k: number, step: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < k; i++) await step();
  return round(k / ((performance.now() - t0) / 1000), 1);
}

interface AllocationRequest {
  allocations: Record<string, { resources: Record<string, number> }>;
}

/** Placement: K × (candidates, limit 5 + PUT /allocations). */
export function placementClaimLoop(http: PlacementHttp, q: QuerySpec, k: number): Promise<number> {
  const path = placementPath(q);
  const project = randomUUID();
  const user = randomUUID();
  return perSecond(k, async () => {
    const body = (await http.expect("GET", path, undefined, [200])) as {
      allocation_requests: AllocationRequest[];
    };
    const first = body.allocation_requests[0];
    if (!first) throw new Error("placement claim loop: no candidate left");
    await http.expect(
      "PUT",
      `/allocations/${randomUUID()}`,
      {
        allocations: first.allocations,
        consumer_generation: null,
        project_id: project,
        user_id: user,
        consumer_type: "INSTANCE",
      },
      [204],
    );
  });
}

/** Mulligan: K × (FindCandidates limit 5 + Claim of the first candidate). */
export function mulliganClaimLoop(
  server: MulliganServer,
  q: QuerySpec,
  k: number,
): Promise<number> {
  const res = server.client(ResourceService);
  const query = mulliganQuery(q);
  return perSecond(k, async () => {
    const first = (await res.findCandidates({ query })).candidates[0];
    if (!first) throw new Error("mulligan claim loop: no candidate left");
    await res.claim({
      consumer: randomUUID(),
      consumerType: "INSTANCE",
      allocations: first.allocations.map((a) => ({
        provider: a.providerUuid,
        resources: a.resources,
      })),
    });
  });
}

/** Mulligan: K × ClaimBest (pack) of the same query, then the K consumers released. */
export async function mulliganClaimBestLoop(
  server: MulliganServer,
  q: QuerySpec,
  k: number,
): Promise<number> {
  const res = server.client(ResourceService);
  const query = mulliganQuery(q);
  const consumers: string[] = [];
  const rate = await perSecond(k, async () => {
    const consumer = randomUUID();
    await res.claimBest({ consumer, consumerType: "INSTANCE", query, weigher: Weigher.PACK });
    consumers.push(consumer);
  });
  for (const consumer of consumers) await res.release({ consumer });
  return rate;
}

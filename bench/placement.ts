/**
 * `npm run bench -- placement [--json] [--store sqlite|postgres|both] [--quick] [--scale F]
 * [--reps N] [--claims K]`: OpenStack Placement (Debian's placement-api under uwsgi, installed
 * with apt-get when missing) and Mulligan side by side, on the same fleets, queries and claim
 * loop, in one run (see bench/placement/phases.ts for the cases, options.ts for the options).
 */
import { progress } from "./lib/log.js";
import { machineInfo } from "./lib/report.js";
import { PLACEMENT_MICROVERSION } from "./placement/http.js";
import { ensurePlacementInstalled, placementPackageVersion } from "./placement/install.js";
import { parsePlacementOptions } from "./placement/options.js";
import { type DbRun, runOneDb } from "./placement/phases.js";
import { type PlacementResult, placementSummary } from "./placement/report.js";
import { UWSGI_PROCESSES, UWSGI_THREADS } from "./placement/server.js";

const NOTES = [
  "times are the p50 of sequential calls after one warm-up call (a call over 5 s is its own first sample); the 7-of-8 wide tree is timed once on Placement",
  "Placement is asked with OpenStack-API-Version placement 1.39 and noauth2; Mulligan over gRPC with the bootstrap admin's token",
  "traits map to capabilities, aggregates to provider groups (member_of), granular groups to named request groups; providers keep their UUIDs",
  "flat fleet traits: placeload 0.3.0's trait step was not available, so 2 nodes in 3 carry HW_CPU_X86_AVX2 (cycle of three trait sets)",
  "Mulligan claim loop = FindCandidates (limit 5) + Claim of the first candidate; ClaimBest (pack) is shown for reference",
];

/** Runs the workload; returns the JSON result. */
export async function run(args: string[]): Promise<PlacementResult> {
  const options = parsePlacementOptions(args);
  ensurePlacementInstalled();
  const runs: DbRun[] = [];
  for (const db of options.stores) runs.push(await runOneDb(db, options, progress));
  const first = runs[0];
  if (!first) throw new Error("no store to run on");
  return {
    workload: "placement",
    placement_version: `${placementPackageVersion()} (microversion ${PLACEMENT_MICROVERSION})`,
    db: options.stores.length > 1 ? "both" : first.db,
    placement_server: `uwsgi ${UWSGI_PROCESSES} processes × ${UWSGI_THREADS} threads on loopback`,
    machine: machineInfo(),
    cases: runs.flatMap((r) => r.cases),
    claim_loop: first.claim_loop,
    claim_loops: runs.map((r) => r.claim_loop),
    warnings: runs.flatMap((r) => r.warnings),
    notes: options.quick ? [...NOTES, "--quick: the 7-of-8 wide-tree case was skipped"] : NOTES,
  };
}

/** The human summary of a result of run(). */
export function summary(result: object): string {
  return placementSummary(result as PlacementResult);
}

/**
 * The placement workload's result object (the --json output) and its human summary.
 */
import type { MachineInfo } from "../lib/report.js";
import { formatTable } from "../lib/stats.js";
import type { CaseResult, ClaimLoopRecord } from "./phases.js";

export interface PlacementResult {
  workload: "placement";
  /** Debian package version and the newest microversion the server announced. */
  placement_version: string;
  db: "sqlite" | "postgres" | "both";
  placement_server: string;
  machine: MachineInfo;
  cases: CaseResult[];
  /** The first store's claim loop (the only one unless --store both). */
  claim_loop: ClaimLoopRecord;
  claim_loops: ClaimLoopRecord[];
  /** Candidate-count mismatches between Placement and Mulligan. */
  warnings: string[];
  notes: string[];
}

function ms(x: number): string {
  return x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(x < 10 ? 2 : 1)} ms`;
}

/** The human form: one table of cases, the claim loops, warnings and notes. */
export function placementSummary(r: PlacementResult): string {
  const rows = r.cases.map((c) => [
    c.name,
    c.db,
    c.providers,
    ms(c.placement_ms),
    ms(c.mulligan_ms),
    c.ratio,
    `${c.placement_candidates} / ${c.mulligan_candidates}`,
    `${c.placement_n} / ${c.mulligan_n}`,
  ]);
  const claims = r.claim_loops.map((c) => [
    c.db,
    c.providers,
    c.k,
    c.placement_claims_per_s,
    c.mulligan_claims_per_s,
    c.ratio,
    c.mulligan_claim_best_per_s,
  ]);
  return [
    `placement: OpenStack Placement ${r.placement_version} (${r.placement_server}) vs Mulligan`,
    `machine: ${r.machine.cpus} × ${r.machine.cpu_model}, ${r.machine.mem_gib} GiB, ${r.machine.os}, ${r.machine.date}`,
    "",
    formatTable(
      [
        "case",
        "db",
        "providers",
        "Placement p50",
        "Mulligan p50",
        "Placement/Mulligan",
        "candidates P / M",
        "calls P / M",
      ],
      rows,
    ),
    "",
    "claim loop (one client: query limit 5 + claim of the first candidate):",
    formatTable(
      [
        "db",
        "providers",
        "claims",
        "Placement /s",
        "Mulligan /s",
        "Mulligan/Placement",
        "Mulligan ClaimBest /s",
      ],
      claims,
    ),
    ...(r.warnings.length ? ["", "WARNINGS:", ...r.warnings.map((w) => `  ${w}`)] : []),
    "",
    ...r.notes.map((n) => `note: ${n}`),
  ].join("\n");
}

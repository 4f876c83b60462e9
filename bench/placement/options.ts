/**
 * Command-line options of the placement workload, with their defaults in one place:
 *   --store sqlite|postgres|both  store of Placement and of Mulligan (default sqlite; both runs
 *                                 everything twice, about twice as long). --db is an alias.
 *   --quick                       skip the 7-of-8 wide-tree case (minutes on Placement)
 *   --scale F                     multiply fleet sizes by F (e.g. 0.05 to validate quickly)
 *   --reps N                      timed calls per query and side (default 10)
 *   --claims K                    claims in the claim loop, per side (default 100)
 */
import { intOption, parseOptions, storesOption, UsageError } from "../lib/args.js";

export interface PlacementOptions {
  stores: ("sqlite" | "postgres")[];
  quick: boolean;
  scale: number;
  reps: number;
  claims: number;
  /**
   * Trees loaded at once into Placement (per store: on SQLite concurrent writers mostly meet
   * "database is locked", so one at a time is fastest) and into Mulligan.
   */
  placementLoadConcurrency: { sqlite: number; postgres: number };
  mulliganLoadConcurrency: number;
  /** Time after which a query stops being repeated (once it has minReps samples). */
  budgetMs: number;
  minReps: number;
}

export const DEFAULTS = {
  store: "sqlite",
  reps: 10,
  claims: 100,
  placementLoadConcurrency: { sqlite: 1, postgres: 8 },
  mulliganLoadConcurrency: 16,
  budgetMs: 30_000,
  minReps: 3,
} as const;

/** Parses the workload's arguments (bench/main.ts has already taken --json away). */
export function parsePlacementOptions(args: readonly string[]): PlacementOptions {
  const quick = args.includes("--quick");
  const v = parseOptions(
    args.filter((a) => a !== "--quick"),
    ["store", "db", "scale", "reps", "claims"],
  );
  const scale = v.scale === undefined ? 1 : Number(v.scale);
  if (!Number.isFinite(scale) || scale <= 0) throw new UsageError("--scale must be positive");
  const reps = intOption(v.reps, "reps", DEFAULTS.reps);
  const claims = intOption(v.claims, "claims", DEFAULTS.claims);
  if (reps < 1 || claims < 1) throw new UsageError("--reps and --claims must be at least 1");
  return {
    stores: storesOption(v.store ?? v.db, DEFAULTS.store),
    quick,
    scale,
    reps,
    claims,
    placementLoadConcurrency: DEFAULTS.placementLoadConcurrency,
    mulliganLoadConcurrency: DEFAULTS.mulliganLoadConcurrency,
    budgetMs: DEFAULTS.budgetMs,
    minReps: Math.min(DEFAULTS.minReps, reps),
  };
}

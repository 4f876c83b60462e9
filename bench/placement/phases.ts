/**
 * One run of the placement workload on one store kind: for each fleet, a fresh Placement
 * (uwsgi) and a fresh Mulligan server on that kind of store, the same fleet loaded into both,
 * the same queries timed on both; both servers stopped and their stores removed afterwards,
 * also on error.
 *
 *   flat:   N1 compute nodes → flat query; claim loop; grow to N2 → flat query again
 *   nested: T trees of 7 → nested query
 *   wide:   1 host with 8 GPUs → 6 of 8 isolated (limit 1); 7 of 8 (Placement: once; --quick skips)
 */
import { type MulliganServer, startMulligan } from "../lib/server.js";
import { round } from "../lib/stats.js";
import { mulliganClaimBestLoop, mulliganClaimLoop, placementClaimLoop } from "./claims.js";
import {
  type Fleet,
  flatFleet,
  nestedFleet,
  newFlatAggregates,
  providerCount,
  wideFleet,
} from "./fleets.js";
import { loadIntoMulligan } from "./load-mulligan.js";
import { loadIntoPlacement } from "./load-placement.js";
import { type RepeatPolicy, timeMulligan, timePlacement } from "./measure.js";
import type { PlacementOptions } from "./options.js";
import { flatQuery, nestedQuery, type QuerySpec, wideQuery } from "./queries.js";
import { type PlacementDb, type PlacementServer, startPlacement } from "./server.js";

export interface CaseResult {
  name: string;
  db: PlacementDb;
  providers: number;
  placement_ms: number;
  mulligan_ms: number;
  /** Placement p50 / Mulligan p50. */
  ratio: number;
  placement_candidates: number;
  mulligan_candidates: number;
  placement_n: number;
  mulligan_n: number;
}

export interface ClaimLoopRecord {
  db: PlacementDb;
  k: number;
  providers: number;
  placement_claims_per_s: number;
  mulligan_claims_per_s: number;
  /** Mulligan / Placement. */
  ratio: number;
  mulligan_claim_best_per_s: number;
}

export interface DbRun {
  db: PlacementDb;
  cases: CaseResult[];
  claim_loop: ClaimLoopRecord;
  /** Candidate-count mismatches between the two sides (a finding, not an error). */
  warnings: string[];
}

type Log = (line: string) => void;

/** Sizes of the fleets at scale 1 (Placement's perf gate). */
export const FLEET_SIZES = { flatSmall: 1000, flatLarge: 5000, nestedTrees: 1000, gpus: 8 };

interface Pair {
  pl: PlacementServer;
  mu: MulliganServer;
  providers: number;
}

/** Starts both servers on fresh `db` stores, runs `body`, stops both whatever happens. */
async function withPair<T>(db: PlacementDb, log: Log, body: (p: Pair) => Promise<T>): Promise<T> {
  log(`starting Placement (uwsgi, ${db}) and Mulligan (${db})`);
  const pl = await startPlacement(db);
  let mu: MulliganServer | undefined;
  try {
    mu = await startMulligan({ database: db, logLevel: "warn" });
    return await body({ pl, mu, providers: 0 });
  } finally {
    await mu?.stop();
    await pl.stop();
  }
}

async function load(pair: Pair, fleet: Fleet, o: PlacementOptions, log: Log): Promise<void> {
  const n = providerCount(fleet);
  const t0 = Date.now();
  const placementLoad = async () => {
    await pair.pl.setSeeding(true);
    const concurrency = o.placementLoadConcurrency[pair.pl.db];
    await loadIntoPlacement(pair.pl.http, fleet, concurrency, log);
    await pair.pl.setSeeding(false);
  };
  await Promise.all([
    placementLoad(),
    loadIntoMulligan(pair.mu, fleet, o.mulliganLoadConcurrency, log),
  ]);
  pair.providers += n;
  log(`loaded ${n} providers into both in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

function policy(o: PlacementOptions, once = false): RepeatPolicy {
  return { reps: o.reps, minReps: o.minReps, budgetMs: o.budgetMs, once };
}

async function measureCase(
  pair: Pair,
  name: string,
  q: QuerySpec,
  o: PlacementOptions,
  run: Pick<DbRun, "db" | "cases" | "warnings">,
  log: Log,
  placementOnce = false,
): Promise<void> {
  log(`${name}: timing Placement${placementOnce ? " (once)" : ""}`);
  const p = await timePlacement(pair.pl.http, q, policy(o, placementOnce));
  log(`${name}: Placement p50 ${p.p50_ms} ms (${p.n} calls, ${p.candidates} candidates)`);
  const m = await timeMulligan(pair.mu, q, policy(o));
  log(`${name}: Mulligan p50 ${m.p50_ms} ms (${m.n} calls, ${m.candidates} candidates)`);
  if (p.candidates !== m.candidates) {
    const w = `${name} [${run.db}]: Placement returned ${p.candidates} candidates, Mulligan ${m.candidates}`;
    run.warnings.push(w);
    log(`WARNING ${w}`);
  }
  run.cases.push({
    name,
    db: run.db,
    providers: pair.providers,
    placement_ms: p.p50_ms,
    mulligan_ms: m.p50_ms,
    ratio: m.p50_ms > 0 ? round(p.p50_ms / m.p50_ms, 1) : 0,
    placement_candidates: p.candidates,
    mulligan_candidates: m.candidates,
    placement_n: p.n,
    mulligan_n: m.n,
  });
}

function scaled(n: number, o: PlacementOptions): number {
  return Math.max(1, Math.round(n * o.scale));
}

/** Runs every case of the workload on one store kind. */
export async function runOneDb(db: PlacementDb, o: PlacementOptions, log: Log): Promise<DbRun> {
  const run: Pick<DbRun, "db" | "cases" | "warnings"> = { db, cases: [], warnings: [] };
  let claimLoop: ClaimLoopRecord | undefined;
  const small = scaled(FLEET_SIZES.flatSmall, o);
  const large = Math.max(small, scaled(FLEET_SIZES.flatLarge, o));
  await withPair(db, log, async (pair) => {
    const aggs = newFlatAggregates();
    const q = flatQuery(aggs.all[0]);
    await load(pair, flatFleet(aggs, 0, small), o, log);
    await measureCase(pair, `flat-${small}`, q, o, run, log);
    const claimQuery = flatQuery(aggs.all[0], 5);
    log(`claim loop: ${o.claims} claims per side`);
    const placement = await placementClaimLoop(pair.pl.http, claimQuery, o.claims);
    const mulligan = await mulliganClaimLoop(pair.mu, claimQuery, o.claims);
    const best = await mulliganClaimBestLoop(pair.mu, claimQuery, o.claims);
    claimLoop = {
      db,
      k: o.claims,
      providers: pair.providers,
      placement_claims_per_s: placement,
      mulligan_claims_per_s: mulligan,
      ratio: placement > 0 ? round(mulligan / placement, 1) : 0,
      mulligan_claim_best_per_s: best,
    };
    log(`claim loop: Placement ${placement}/s, Mulligan ${mulligan}/s (ClaimBest ${best}/s)`);
    if (large > small) {
      await load(pair, flatFleet(aggs, small, large - small), o, log);
      await measureCase(pair, `flat-${large}`, q, o, run, log);
    }
  });
  const trees = scaled(FLEET_SIZES.nestedTrees, o);
  await withPair(db, log, async (pair) => {
    await load(pair, nestedFleet(trees), o, log);
    await measureCase(pair, `nested-${trees}x7`, nestedQuery(), o, run, log);
  });
  await withPair(db, log, async (pair) => {
    const gpus = FLEET_SIZES.gpus;
    await load(pair, wideFleet(gpus), o, log);
    await measureCase(pair, `wide-${gpus - 2}of${gpus}`, wideQuery(gpus - 2), o, run, log);
    if (!o.quick)
      await measureCase(pair, `wide-${gpus - 1}of${gpus}`, wideQuery(gpus - 1), o, run, log, true);
  });
  if (!claimLoop) throw new Error("claim loop did not run");
  return { ...run, claim_loop: claimLoop };
}

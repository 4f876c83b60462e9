/**
 * Claims whose release a crash interrupted. A machine leaves its claim behind only between a
 * commit and the release that follows it (a Decommission of a machine that never reached a host,
 * a scheduler that claimed for a machine decommissioned meanwhile); a restart is what interrupts
 * that, so every process hosting control sweeps when it starts: machines that ended recently —
 * DELETED, or ERROR with no host (an ERROR that kept its host failed its teardown and still holds
 * the guest's resources) — have whatever they still hold released.
 */
import type { ControlDeps } from "./deps.js";
import * as repo from "./repo.js";

/** How far back a start-up sweep looks. */
export const SWEEP_WINDOW_MS = 24 * 3600 * 1000;
/** Machines looked at per sweep. */
const SWEEP_LIMIT = 1000;

/** Releases the claims of machines that ended since `since`; answers how many were released. */
export async function sweepEndedClaims(deps: ControlDeps, since: string): Promise<number> {
  let released = 0;
  for (const uuid of await repo.endedSince(deps.store.db, since, SWEEP_LIMIT)) {
    if ((await deps.placement.allocations(uuid)).length === 0) continue;
    await deps.placement.release(uuid);
    deps.logger.warn({ machine: uuid }, "released a claim an interrupted release left behind");
    released += 1;
  }
  return released;
}

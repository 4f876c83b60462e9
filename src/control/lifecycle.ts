/**
 * The machine lifecycle in one place: which state may follow which. Every state change of a
 * machine goes through `assertTransition`, so an impossible jump (ACTIVE → SCHEDULING, say) is
 * a bug caught at the write, never a silently corrupt record.
 */
import { MulliganError } from "../platform/errors.js";
import type { MachineState } from "./model.js";

const NEXT: Record<MachineState, readonly MachineState[]> = {
  PENDING: ["SCHEDULING", "ERROR", "DELETED"],
  // Back to PENDING when a claim raced with a decommission or a host failed before the build.
  SCHEDULING: ["PROVISIONING", "PENDING", "ERROR", "DELETED"],
  // PENDING again: the host failed and another attempt is allowed.
  PROVISIONING: ["ACTIVE", "PENDING", "ERROR", "DECOMMISSIONING"],
  ACTIVE: ["DECOMMISSIONING", "ERROR"],
  DECOMMISSIONING: ["DELETED", "ERROR"],
  // An errored machine can only be decommissioned (its host may still hold a guest).
  ERROR: ["DECOMMISSIONING", "DELETED"],
  DELETED: [],
};

/** True if `to` may follow `from`. */
export function canTransition(from: MachineState, to: MachineState): boolean {
  return NEXT[from].includes(to);
}

/** Throws INTERNAL for a transition the lifecycle does not allow. */
export function assertTransition(from: MachineState, to: MachineState): void {
  if (!canTransition(from, to))
    throw new MulliganError(
      "INTERNAL",
      "LIFECYCLE_VIOLATION",
      `a machine cannot go from ${from} to ${to}`,
    );
}

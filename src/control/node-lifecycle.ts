/**
 * The node lifecycle in one place (Ironic's shape): which state may follow which, which
 * states are steps a conductor is running, and the failure state each step falls into. Every
 * state change of a node goes through `assertNodeTransition` in node-repo.ts.
 */
import { MulliganError } from "../platform/errors.js";
import type { TaskKind } from "./model.js";
import type { NodeState, PowerState } from "./node-model.js";

const NEXT: Record<NodeState, readonly NodeState[]> = {
  ENROLLED: ["VERIFYING"],
  VERIFYING: ["MANAGEABLE", "VERIFY_FAILED"],
  // Inspection verifies the BMC again first: the way out after the credentials are fixed.
  VERIFY_FAILED: ["INSPECTING"],
  MANAGEABLE: ["INSPECTING", "CLEANING"],
  INSPECTING: ["MANAGEABLE", "INSPECT_FAILED"],
  INSPECT_FAILED: ["INSPECTING"],
  CLEANING: ["AVAILABLE", "CLEAN_FAILED"],
  CLEAN_FAILED: ["CLEANING", "INSPECTING"],
  AVAILABLE: ["DEPLOYING", "CLEANING", "INSPECTING"],
  DEPLOYING: ["ACTIVE", "DEPLOY_FAILED"],
  // A node whose deploy failed is handed out again only after it was cleaned.
  DEPLOY_FAILED: ["CLEANING"],
  // Decommission: the disks are erased before the node is available again.
  ACTIVE: ["CLEANING"],
};

/** The states in which a conductor is working on the node, with their failure state. */
export const STEP_FAILURE: Partial<Record<NodeState, NodeState>> = {
  VERIFYING: "VERIFY_FAILED",
  INSPECTING: "INSPECT_FAILED",
  CLEANING: "CLEAN_FAILED",
  DEPLOYING: "DEPLOY_FAILED",
};

/** The state a running step leads to when it succeeds. */
export const STEP_TARGET: Partial<Record<NodeState, NodeState>> = {
  VERIFYING: "MANAGEABLE",
  INSPECTING: "MANAGEABLE",
  CLEANING: "AVAILABLE",
  DEPLOYING: "ACTIVE",
};

/**
 * The power each step drives the node to (its target power state while the step is queued or
 * runs; Ironic's target_power_state): inspection, cleaning and undeploy leave it off, a deploy
 * on. Verify reads the power and changes nothing.
 */
export const STEP_POWER: Partial<Record<TaskKind, PowerState>> = {
  INSPECT_NODE: "off",
  CLEAN_NODE: "off",
  DEPLOY_NODE: "on",
  UNDEPLOY_NODE: "off",
};

/**
 * The idle states whose power control checks periodically (a SYNC_POWER task, which is no
 * step): every state in which no step runs and the BMC's credentials were accepted once.
 * ENROLLED and VERIFY_FAILED are left out — the BMC is not known to answer there, and the
 * operator's next step (inspect) verifies it again.
 */
export const POWER_SYNCED: readonly NodeState[] = [
  "MANAGEABLE",
  "AVAILABLE",
  "ACTIVE",
  "INSPECT_FAILED",
  "CLEAN_FAILED",
  "DEPLOY_FAILED",
];

/** True if `to` may follow `from`. */
export function canNodeTransition(from: NodeState, to: NodeState): boolean {
  return NEXT[from].includes(to);
}

/** True while a conductor step runs on the node. */
export function isBusy(state: NodeState): boolean {
  return state in STEP_FAILURE;
}

/** Throws INTERNAL for a transition the lifecycle does not allow (a bug, not bad input). */
export function assertNodeTransition(from: NodeState, to: NodeState): void {
  if (!canNodeTransition(from, to))
    throw new MulliganError(
      "INTERNAL",
      "LIFECYCLE_VIOLATION",
      `a node cannot go from ${from} to ${to}`,
    );
}

/** Refuses a requested step the node's state does not allow (FAILED_PRECONDITION). */
export function assertNodeCan(node: { name: string; state: NodeState }, to: NodeState): void {
  if (!canNodeTransition(node.state, to))
    throw MulliganError.failedPrecondition(
      "NODE_STATE_INVALID",
      `node ${node.name} is ${node.state}; it cannot go ${to}`,
    );
}

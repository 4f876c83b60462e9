/**
 * How node tasks meet the task machinery of tasks.ts: opening a leased task for its conductor
 * (the BMC password travels only there), progress reports (message, power, inventory), and
 * the outcome of each task (endNodeTask). A step — every node task kind with a RUNS_IN state —
 * leads to its target state on success, to its failure state with the reason on failure.
 * SYNC_POWER is the one node task that is no step: it only reads the power of an idle node
 * (node-power-sync.ts). Deploy and undeploy outcomes also move the machine (tasks.ts finish).
 */
import { nowIso } from "../platform/ids.js";
import { RetryTransaction } from "../store/store.js";
import type { ControlDeps } from "./deps.js";
import type { Task, TaskFailure } from "./model.js";
import { isBusy, STEP_FAILURE, STEP_TARGET } from "./node-lifecycle.js";
import type { LeasedNodeTask, NodeInventory, NodeState, PowerState } from "./node-model.js";
import { endPowerSync } from "./node-power-sync.js";
import * as nodeRepo from "./node-repo.js";
import { syncProvider } from "./nodes.js";
import * as repo from "./repo.js";

type Tx = Parameters<typeof nodeRepo.getNode>[0];

/** Task kinds that act on a node alone (no machine): three steps and the power sync. */
export const NODE_ONLY_KINDS: ReadonlySet<Task["kind"]> = new Set([
  "VERIFY_NODE",
  "INSPECT_NODE",
  "CLEAN_NODE",
  "SYNC_POWER",
]);

/** What a node says after each step succeeded. */
const DONE_MESSAGE: Partial<Record<Task["kind"], string>> = {
  VERIFY_NODE: "BMC credentials verified",
  INSPECT_NODE: "hardware inspected",
  CLEAN_NODE: "disks erased; available",
  DEPLOY_NODE: "deployed; the OS booted from disk",
  UNDEPLOY_NODE: "undeployed and erased; available",
};

/**
 * The steps a conductor fails, not re-runs, when it was interrupted (the conductor's own step
 * names); verify only reads the BMC and is simply run again.
 */
export const INTERRUPTIBLE_STEP: Partial<Record<Task["kind"], string>> = {
  INSPECT_NODE: "inspect",
  CLEAN_NODE: "clean",
  DEPLOY_NODE: "deploy",
  UNDEPLOY_NODE: "undeploy",
};

/** The state each node step runs in; a kind without one (SYNC_POWER) is no step. */
const RUNS_IN: Partial<Record<Task["kind"], NodeState>> = {
  VERIFY_NODE: "VERIFYING",
  INSPECT_NODE: "INSPECTING",
  CLEAN_NODE: "CLEANING",
  DEPLOY_NODE: "DEPLOYING",
  UNDEPLOY_NODE: "CLEANING",
};

/** The task with the node's BMC (password opened) and boot MACs, for its conductor only. */
export async function openNodeTask(deps: ControlDeps, task: Task): Promise<Task> {
  if (!task.nodeUuid || !task.node) return task;
  const n = await nodeRepo.getNode(deps.store.db, task.nodeUuid);
  if (!n) return task;
  const sealed = await nodeRepo.sealedPassword(deps.store.db, n.uuid);
  const node: LeasedNodeTask = {
    ...task.node,
    nodeName: n.name,
    bmc: { ...n.bmc, password: deps.credentials.open(sealed, n.uuid) },
    bootMacs: n.bootMacs,
  };
  return { ...task, node };
}

/** What a node task's report may carry besides its step. */
export interface NodeReport {
  message: string;
  inventory: NodeInventory | null;
  powerState: PowerState;
}

/**
 * Records a node task's progress on the node (in the report's transaction). A power read resets
 * the count of failed power syncs (the BMC answers). On an idle node — read only by a power
 * sync, since a step makes its node busy and cancels an open sync — a power that differs from
 * the recorded one changed out of band, and the node's message says so.
 */
export async function nodeProgress(tx: Tx, task: Task, report: NodeReport): Promise<void> {
  const n = await nodeRepo.getNode(tx, task.nodeUuid);
  if (!n) return;
  const power = report.powerState;
  let message = report.message;
  if (power !== "" && !isBusy(n.state)) {
    if (n.powerState !== "" && power !== n.powerState)
      message = `power changed out of band: ${n.powerState} → ${power}`;
    else if (n.powerSyncFailures > 0)
      message = `the BMC answers again (power ${power}) after ${n.powerSyncFailures} failed power syncs`;
  }
  const at = nowIso();
  await nodeRepo.updateNode(
    tx,
    n.uuid,
    {
      ...(message ? { message } : {}),
      ...(report.inventory ? { inventory: report.inventory } : {}),
      ...(power ? { powerState: power, powerSyncFailures: 0 } : {}),
    },
    at,
  );
  if (power) await machineFollowsNode(tx, { ...n, powerState: power }, at);
}

const NODE_POWER_MESSAGES = {
  RUNNING: "power: running — the node is on (read from its BMC)",
  STOPPED: "power: stopped — the node is off (read from its BMC)",
} as const;

/**
 * The machine an ACTIVE node holds shows the node's power as its BMC last read it (a power
 * sync, a step's read, the end of the deploy), with an event when it changes — the bare-metal
 * counterpart of an executor's guest power reports.
 */
async function machineFollowsNode(
  tx: Tx,
  n: { state: NodeState; machineUuid: string; powerState: PowerState },
  at: string,
): Promise<void> {
  if (n.state !== "ACTIVE" || n.machineUuid === "" || n.powerState === "") return;
  const m = await repo.getMachine(tx, n.machineUuid);
  const power = n.powerState === "on" ? "RUNNING" : "STOPPED";
  if (!m || m.state === "DELETED" || m.powerState === power) return;
  if (!(await repo.recordPower(tx, m, power, at, { message: NODE_POWER_MESSAGES[power], at })))
    throw new RetryTransaction("the machine's power changed meanwhile");
}

/**
 * Ends a node task in the caller's transaction, the one place kinds part: a step moves the
 * node (endNodeStep), a power sync only counts its failures (node-power-sync.ts). Either way
 * the node's power was just checked: the next sync is due an interval from now. True when a
 * failed sync put the node in maintenance.
 */
export async function endNodeTask(
  tx: Tx,
  task: Task,
  failure: TaskFailure | null,
  at: string,
  maxSyncFailures: number,
): Promise<boolean> {
  await nodeRepo.updateNode(tx, task.nodeUuid, { powerCheckedAt: at }, at);
  if (!RUNS_IN[task.kind]) return endPowerSync(tx, task, failure, at, maxSyncFailures);
  await endNodeStep(tx, task, failure, at);
  return false;
}

/**
 * Moves the node at the end of one of its tasks: to the step's target, or to its failure state
 * with the reason; either way the target state and target power state are cleared (the power
 * the step reported is the node's power_state). A node no longer in the task's state (moved by
 * an operator or a later task) is left as it is. Runs in the caller's transaction.
 */
async function endNodeStep(
  tx: Tx,
  task: Task,
  failure: TaskFailure | null,
  at: string,
): Promise<void> {
  const n = await nodeRepo.getNode(tx, task.nodeUuid);
  const runsIn = RUNS_IN[task.kind];
  if (!n || !runsIn || n.state !== runsIn) return;
  const undeploy = task.kind === "UNDEPLOY_NODE";
  let moved: boolean;
  if (failure === null) {
    const to = STEP_TARGET[runsIn] as NodeState;
    moved = await nodeRepo.transitionNode(tx, n, to, {
      targetState: "",
      targetPowerState: "",
      failedState: "",
      lastError: null,
      ...(undeploy ? { machineUuid: "" } : {}),
      message: DONE_MESSAGE[task.kind] ?? to.toLowerCase(),
      at,
    });
    // A deployed node's machine starts out with the power the deploy last read.
    if (moved) await machineFollowsNode(tx, { ...n, state: to }, at);
  } else {
    const to = STEP_FAILURE[runsIn] as NodeState;
    moved = await nodeRepo.transitionNode(tx, n, to, {
      targetState: "",
      targetPowerState: "",
      failedState: to,
      lastError: { step: failure.step, reason: failure.reason, message: failure.message },
      ...(undeploy ? {} : task.kind === "DEPLOY_NODE" ? { machineUuid: "" } : {}),
      message: `${failure.step} failed: ${failure.message}`,
      at,
    });
  }
  if (!moved) throw new RetryTransaction("the node moved on meanwhile");
}

/**
 * Ends a node-only task (verify, inspect, clean, power sync) and publishes the node's provider
 * (a failed sync may have put the node in maintenance).
 */
export async function finishNodeTask(
  deps: ControlDeps,
  task: Task,
  failure: TaskFailure | null,
): Promise<void> {
  const { store, settings } = deps;
  const maintenance = await store.transaction(async (tx) => {
    const state = failure ? "failed" : "done";
    if (!(await repo.updateTask(tx, task.uuid, ["leased", "ready"], { state }, nowIso())))
      return false;
    return endNodeTask(tx, task, failure, nowIso(), settings.powerSyncMaxFailures);
  });
  if (maintenance)
    deps.logger.warn(
      { node: task.nodeUuid, reason: failure?.reason },
      `node put in maintenance: ${settings.powerSyncMaxFailures} power syncs in a row failed`,
    );
  await syncProvider(deps, task.nodeUuid);
  deps.changed.notify();
}

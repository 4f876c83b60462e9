/**
 * How node tasks meet the task machinery of tasks.ts: opening a leased task for its conductor
 * (the BMC password travels only there), progress reports (message, power, inventory), and
 * the outcome of each step — success leads to the step's target state, failure to its failure
 * state with the reason. Deploy and undeploy outcomes also move the machine (tasks.ts finish).
 */
import { nowIso } from "../platform/ids.js";
import { RetryTransaction } from "../store/store.js";
import type { ControlDeps } from "./deps.js";
import type { Task, TaskFailure } from "./model.js";
import { STEP_FAILURE, STEP_TARGET } from "./node-lifecycle.js";
import type { LeasedNodeTask, NodeInventory, NodeState, PowerState } from "./node-model.js";
import * as nodeRepo from "./node-repo.js";
import { syncProvider } from "./nodes.js";
import * as repo from "./repo.js";

type Tx = Parameters<typeof nodeRepo.getNode>[0];

/** Task kinds that act on a node alone (no machine). */
export const NODE_STEP_KINDS: ReadonlySet<Task["kind"]> = new Set([
  "VERIFY_NODE",
  "INSPECT_NODE",
  "CLEAN_NODE",
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

/** The state each node task runs in. */
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

/** Records a node task's progress on the node (in the report's transaction). */
export async function nodeProgress(tx: Tx, task: Task, report: NodeReport): Promise<void> {
  await nodeRepo.updateNode(
    tx,
    task.nodeUuid,
    {
      ...(report.message ? { message: report.message } : {}),
      ...(report.inventory ? { inventory: report.inventory } : {}),
      ...(report.powerState ? { powerState: report.powerState } : {}),
    },
    nowIso(),
  );
}

/**
 * Moves the node at the end of one of its tasks: to the step's target, or to its failure state
 * with the reason; either way the target state and target power state are cleared (the power
 * the step reported is the node's power_state). A node no longer in the task's state (moved by
 * an operator or a later task) is left as it is. Runs in the caller's transaction.
 */
export async function endNodeStep(
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

/** Ends a node-only task (verify, inspect, clean) and publishes the node's provider. */
export async function finishNodeStep(
  deps: ControlDeps,
  task: Task,
  failure: TaskFailure | null,
): Promise<void> {
  const { store } = deps;
  await store.transaction(async (tx) => {
    const state = failure ? "failed" : "done";
    if (!(await repo.updateTask(tx, task.uuid, ["leased", "ready"], { state }, nowIso()))) return;
    await endNodeStep(tx, task, failure, nowIso());
  });
  await syncProvider(deps, task.nodeUuid);
  deps.changed.notify();
}

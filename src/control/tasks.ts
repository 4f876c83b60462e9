/**
 * The executor side of the control plane: leasing tasks (at-least-once: a lease that is not
 * renewed expires and the task goes to whoever asks next for that host) and applying their
 * reports. Every outcome goes through `finish`, which moves the machine along its lifecycle and
 * releases its claim on every failure path.
 */
import { MulliganError } from "../platform/errors.js";
import { newUuid, nowIso } from "../platform/ids.js";
import type { Principal } from "../platform/principal.js";
import { RetryTransaction } from "../store/store.js";
import type { ControlDeps } from "./deps.js";
import { claimConductorGroup, claimHosts, mayReport } from "./host-owners.js";
import type { Machine, Task, TaskFailure } from "./model.js";
import type { NodeInventory, PowerState } from "./node-model.js";
import * as nodeRepo from "./node-repo.js";
import {
  endNodeTask,
  finishNodeTask,
  INTERRUPTIBLE_STEP,
  NODE_ONLY_KINDS,
  nodeProgress,
  openNodeTask,
} from "./node-tasks.js";
import { syncProvider } from "./nodes.js";
import * as repo from "./repo.js";

/** A machine that moved while this transaction ran: read it again and decide again. */
async function moved(done: Promise<boolean>): Promise<void> {
  if (!(await done)) throw new RetryTransaction("the machine moved on meanwhile");
}

/** Longest a LeaseTasks call waits for work. */
export const MAX_LEASE_WAIT_MS = 30_000;
/** How long a LeaseTasks call that does not say waits for work. */
export const DEFAULT_LEASE_WAIT_SECONDS = 10;
/** How often a waiting lease re-reads when nothing in this process woke it. */
const LEASE_POLL_MS = 1000;
/** Console text kept per machine. */
export const MAX_CONSOLE_BYTES = 64 * 1024;

export interface LeaseInput {
  hosts: string[];
  waitMs: number;
  maxTasks: number;
  consoles: { machineUuid: string; text: string }[];
  /** Also the tasks of the nodes enrolled in this conductor group ("" for none). */
  conductorGroup: string;
}

/** The time `ms` from now, as stored (lease and hold ends). */
export function later(ms: number): string {
  return new Date(Date.now() + ms).toISOString();
}

function tail(text: string): string {
  const bytes = Buffer.from(text, "utf8");
  return bytes.length <= MAX_CONSOLE_BYTES
    ? text
    : bytes.subarray(bytes.length - MAX_CONSOLE_BYTES).toString("utf8");
}

/** Publishes consoles, then waits up to `waitMs` for tasks of the hosts and leases them. */
export async function leaseTasks(
  deps: ControlDeps,
  p: Principal,
  input: LeaseInput,
  signal: AbortSignal,
): Promise<Task[]> {
  const { store } = deps;
  const hosts: string[] = [];
  for (const [i, ref] of input.hosts.entries()) {
    const found = await deps.placement.findProvider(ref);
    if (!found) throw MulliganError.notFound("host", ref, `hosts[${i}]`);
    hosts.push(found.uuid);
  }
  await claimHosts(
    deps,
    p,
    hosts.map((uuid, i) => ({ uuid, ref: input.hosts[i] ?? uuid })),
  );
  if (input.conductorGroup !== "") await claimConductorGroup(deps, p, input.conductorGroup);

  const at = nowIso();
  for (const c of input.consoles) await repo.saveConsole(store.db, c.machineUuid, tail(c.text), at);
  const deadline = Date.now() + input.waitMs;
  for (;;) {
    const waited = deps.changed.wait(
      Math.min(LEASE_POLL_MS, Math.max(0, deadline - Date.now())),
      signal,
    );
    const leased: Task[] = [];
    const now = nowIso();
    // A node's tasks are queued under the node's UUID for its conductor group; read the group
    // on every round, so a node enrolled during the wait is served at once. The tasks of a node
    // in maintenance are held (repo.leasable leaves them out).
    const nodes =
      input.conductorGroup === ""
        ? []
        : await nodeRepo.nodesOfGroup(store.db, input.conductorGroup);
    const inMaintenance = nodes.filter((n) => n.maintenance).map((n) => n.uuid);
    if (inMaintenance.length > 0) await endInterrupted(deps, inMaintenance, now);
    const ids = [...hosts, ...nodes.map((n) => n.uuid)];
    for (const t of await repo.leasable(store.db, ids, now, input.maxTasks)) {
      const token = newUuid();
      const until = later(deps.settings.leaseMs);
      if (await repo.leaseTask(store.db, t, token, until, now))
        leased.push(
          await openNodeTask(deps, {
            ...t,
            state: "leased",
            leaseToken: token,
            leaseUntil: until,
            deliveries: t.deliveries + 1,
          }),
        );
    }
    if (leased.length > 0 || Date.now() >= deadline || signal.aborted) {
      if (signal.aborted && leased.length === 0 && signal.reason) throw signal.reason;
      return leased;
    }
    await waited;
  }
}

/**
 * Restart recovery for nodes in maintenance. A lapsed lease is a conductor that died or lost
 * its step; elsewhere the task is delivered again and the conductor that receives it powers the
 * node off and fails the step (CONDUCTOR_RESTARTED). A node in maintenance is not touched: its
 * interrupted step is failed here with the same reason and the power left as it is, so the node
 * shows the step's failure state instead of a step nobody runs. A lapsed verify, which only
 * reads the BMC, stays held and runs again once maintenance ends.
 */
async function endInterrupted(deps: ControlDeps, nodes: readonly string[], now: string) {
  for (const t of await repo.lapsedNodeTasks(deps.store.db, nodes, now)) {
    const step = INTERRUPTIBLE_STEP[t.kind];
    if (!step) continue;
    await finish(deps, t, {
      step,
      reason: "CONDUCTOR_RESTARTED",
      message: `the conductor stopped during ${step} (its lease lapsed) while the node is in maintenance; its power was left as it is`,
      hostFault: true,
    });
  }
}

/** A decoded ReportTask request. */
export interface ReportInput {
  taskUuid: string;
  leaseToken: string;
  step: string;
  message: string;
  result: { kind: "progress" } | { kind: "done" } | { kind: "failure"; failure: TaskFailure };
  console: string;
  /** When the step happened on the executor (ISO; "" for now). */
  stepAt: string;
  /** Bare metal: the hardware found (inspection) and the power read from the BMC. */
  inventory: NodeInventory | null;
  powerState: PowerState;
}

/**
 * The time of a progress event: when the executor says the step happened, but never later than
 * now (a clock ahead) nor before the machine's last change (a clock behind).
 */
function stepTime(input: ReportInput, m: Machine, now: string): string {
  if (input.stepAt === "" || input.stepAt > now) return now;
  if (input.stepAt < m.updatedAt) return m.updatedAt;
  return input.stepAt;
}

/** Applies a report; answers the new lease end, or `cancelled` when the task is no longer wanted. */
export async function reportTask(
  deps: ControlDeps,
  p: Principal,
  input: ReportInput,
): Promise<{ leaseUntil: string; cancelled: boolean }> {
  const { store } = deps;
  const task = await repo.getTask(store.db, input.taskUuid);
  // Another executor account's task answers exactly like one that does not exist.
  if (!task || !(await mayReport(deps, p, task)))
    throw MulliganError.notFound("task", input.taskUuid, "task_uuid");
  if (task.state === "cancelled") return { leaseUntil: "", cancelled: true };
  if (task.state !== "leased" || task.leaseToken !== input.leaseToken)
    throw MulliganError.failedPrecondition(
      "LEASE_LOST",
      `task ${task.uuid} is ${task.state === "leased" ? "leased to another delivery" : task.state}`,
    );
  const now = nowIso();
  if (input.console !== "")
    await repo.saveConsole(store.db, task.machineUuid, tail(input.console), now);
  if (input.result.kind === "progress") {
    const until = later(deps.settings.leaseMs);
    await store.transaction(async (tx) => {
      await repo.updateTask(tx, task.uuid, ["leased"], { leaseUntil: until }, now);
      const m = await repo.getMachine(tx, task.machineUuid);
      if (m && input.step !== "" && (m.state === "PROVISIONING" || m.state === "DECOMMISSIONING"))
        await repo.progress(
          tx,
          m.uuid,
          m.state,
          input.step,
          input.message,
          stepTime(input, m, now),
        );
      if (task.nodeUuid !== "") await nodeProgress(tx, task, input);
    });
    deps.changed.notify();
    return { leaseUntil: until, cancelled: false };
  }
  if (task.nodeUuid !== "" && (input.inventory || input.powerState))
    await store.transaction((tx) => nodeProgress(tx, task, { ...input, message: "" }));
  await finish(deps, task, input.result.kind === "done" ? null : input.result.failure);
  return { leaseUntil: "", cancelled: false };
}

/**
 * Ends a task and moves its machine: a build that succeeded makes the machine ACTIVE; one that
 * failed releases the claim, then either reschedules (host at fault, attempts left) or records
 * ERROR with the failing step; a finished teardown releases the claim and the machine is
 * DELETED. A task whose machine has moved on (decommissioned meanwhile) only ends.
 */
export async function finish(deps: ControlDeps, task: Task, failure: TaskFailure | null) {
  if (NODE_ONLY_KINDS.has(task.kind)) return finishNodeTask(deps, task, failure);
  const { store } = deps;
  const machine = await repo.getMachine(store.db, task.machineUuid);
  const build = task.kind === "BUILD_VM" || task.kind === "DEPLOY_NODE";
  const teardown = task.kind === "DESTROY_VM" || task.kind === "UNDEPLOY_NODE";
  const releases =
    machine !== undefined &&
    ((build && failure !== null && machine.state === "PROVISIONING") ||
      (teardown && failure === null && machine.state === "DECOMMISSIONING"));
  // A node whose deploy failed is withheld before its claim goes: cleaning must come first.
  if (task.kind === "DEPLOY_NODE" && failure !== null) {
    const n = await nodeRepo.getNode(store.db, task.nodeUuid);
    if (n) await deps.nodeProviders.sync({ ...n, state: "DEPLOY_FAILED" });
  }
  // Release before the state moves on: a rescheduled machine must not find its old claim.
  if (releases) await deps.placement.release(task.machineUuid);
  await store.transaction(async (tx) => {
    const open = ["leased", "ready"] as const;
    if (
      !(await repo.updateTask(
        tx,
        task.uuid,
        open,
        { state: failure ? "failed" : "done" },
        nowIso(),
      ))
    )
      return;
    const at = nowIso();
    if (task.nodeUuid !== "")
      await endNodeTask(tx, task, failure, at, deps.settings.powerSyncMaxFailures);
    const m = await repo.getMachine(tx, task.machineUuid);
    if (!m) return;
    if (build && m.state === "PROVISIONING") {
      if (failure === null)
        await moved(
          repo.transition(tx, m, "ACTIVE", {
            step: "boot",
            message: `running on ${m.hostName || m.hostUuid}`,
            // An earlier attempt's failure stays in `attempts`; the machine itself is fine now.
            failedStep: "",
            reason: "",
            at,
          }),
        );
      else await buildFailed(deps, tx, m, failure, at);
    } else if (teardown && m.state === "DECOMMISSIONING") {
      if (failure === null)
        await moved(
          repo.transition(tx, m, "DELETED", { step: "teardown", message: "deleted", at }),
        );
      else
        await moved(
          repo.transition(tx, m, "ERROR", {
            step: failure.step,
            failedStep: failure.step,
            reason: failure.reason,
            message: `teardown failed: ${failure.message}`,
            at,
          }),
        );
    }
  });
  if (task.nodeUuid !== "") await syncProvider(deps, task.nodeUuid);
  deps.changed.notify();
}

async function buildFailed(
  deps: ControlDeps,
  tx: Parameters<typeof repo.getMachine>[0],
  m: Machine,
  failure: TaskFailure,
  at: string,
): Promise<void> {
  const attempts = m.attempts.map((a, i) =>
    i === m.attempts.length - 1
      ? { ...a, failedStep: failure.step, reason: failure.reason, message: failure.message }
      : a,
  );
  // Whatever the failed build left on the host is removed (the machine is no longer there);
  // a bare-metal node waits DEPLOY_FAILED for an operator's clean instead.
  if (m.kind === "VM")
    await repo.insertTask(
      tx,
      { uuid: newUuid(), kind: "DESTROY_VM", machineUuid: m.uuid, hostUuid: m.hostUuid },
      at,
    );
  const where = m.hostName || m.hostUuid;
  if (failure.hostFault && attempts.length < deps.settings.maxAttempts) {
    await moved(
      repo.transition(tx, m, "PENDING", {
        step: failure.step,
        reason: failure.reason,
        message: `attempt ${attempts.length} on ${where} failed (${failure.message}); trying another host`,
        hostUuid: "",
        hostName: "",
        allocations: [],
        attempts,
        at,
      }),
    );
    return;
  }
  const tried = failure.hostFault ? ` after ${attempts.length} attempts` : "";
  await moved(
    repo.transition(tx, m, "ERROR", {
      step: failure.step,
      failedStep: failure.step,
      reason: failure.reason,
      message: `${failure.step} failed on ${where}${tried}: ${failure.message}`,
      // The machine holds nothing any more; the cleanup task above runs on its own.
      hostUuid: "",
      hostName: "",
      allocations: [],
      attempts,
      at,
    }),
  );
}

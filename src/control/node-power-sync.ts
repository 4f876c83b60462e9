/**
 * The periodic power sync of idle nodes (Ironic's power-state sync): the scheduler queues a
 * SYNC_POWER task for every idle node not in maintenance whose power was last checked longer
 * ago than `powerSyncIntervalMs`; the node's conductor only reads the power through the BMC and
 * reports it. A SYNC_POWER task is no step: it moves no state and sets no target. Its report is
 * recorded like any power read (node-tasks.ts nodeProgress: a change on an idle node is
 * out-of-band and says so); its failures are counted here, and `powerSyncMaxFailures` in a row
 * put the node in maintenance, so nothing automatic touches it until an operator looks. A later
 * successful sync does not end maintenance: that stays the operator's decision.
 */
import { newUuid, nowIso } from "../platform/ids.js";
import type { ControlDeps } from "./deps.js";
import type { Task, TaskFailure } from "./model.js";
import { isBusy, POWER_SYNCED } from "./node-lifecycle.js";
import * as nodeRepo from "./node-repo.js";

type Tx = Parameters<typeof nodeRepo.getNode>[0];

/** Nodes given a power sync per scheduler round (the rest wait for the next round). */
export const POWER_SYNC_BATCH = 32;

/**
 * Queues the power syncs that are due, at most POWER_SYNC_BATCH: for each node, in one
 * transaction, the compare-and-swap on its last check (one replica wins), the node's ended
 * syncs removed and the new SYNC_POWER task queued.
 */
export async function queuePowerSyncs(deps: ControlDeps): Promise<number> {
  const { store, settings } = deps;
  const before = new Date(Date.now() - settings.powerSyncIntervalMs).toISOString();
  let queued = 0;
  for (const n of await nodeRepo.powerSyncDue(store.db, POWER_SYNCED, before, POWER_SYNC_BATCH)) {
    const taken = await store.transaction(async (tx) => {
      const at = nowIso();
      if (!(await nodeRepo.takePowerCheck(tx, n, at))) return false;
      await nodeRepo.deleteEndedSyncs(tx, n.uuid);
      await nodeRepo.insertNodeTask(
        tx,
        { uuid: newUuid(), kind: "SYNC_POWER", machineUuid: "", payload: { nodeUuid: n.uuid } },
        at,
      );
      return true;
    });
    if (taken) queued++;
  }
  if (queued > 0) deps.changed.notify();
  return queued;
}

/**
 * The end of a power sync, in the caller's transaction. Success needs nothing more (the power
 * came with the report). A failure its conductor reported (the BMC did not answer, refused the
 * credentials…) is counted and said in the node's message; the last one allowed puts the node
 * in maintenance with the reason. A sync no conductor ran (EXECUTOR_LOST: the group's
 * conductor is down) says so and is not counted: the BMC was never asked. A node that went
 * busy meanwhile (an operator's step) is left alone. True when the node entered maintenance.
 */
export async function endPowerSync(
  tx: Tx,
  task: Task,
  failure: TaskFailure | null,
  at: string,
  maxFailures: number,
): Promise<boolean> {
  if (failure === null) return false;
  const n = await nodeRepo.getNode(tx, task.nodeUuid);
  if (!n || isBusy(n.state)) return false;
  if (failure.reason === "EXECUTOR_LOST") {
    await nodeRepo.updateNode(tx, n.uuid, { message: `power not checked: ${failure.message}` }, at);
    return false;
  }
  const failures = n.powerSyncFailures + 1;
  const why = `${failure.message} (${failure.reason})`;
  const enter = failures >= maxFailures && !n.maintenance;
  await nodeRepo.updateNode(
    tx,
    n.uuid,
    {
      powerSyncFailures: failures,
      message: enter
        ? `power sync failed ${failures} times in a row; maintenance: ${why}`
        : `power sync failed (${failures} of ${maxFailures}): ${why}`,
      ...(enter ? { maintenance: true, maintenanceReason: `power sync failed: ${why}` } : {}),
    },
    at,
  );
  return enter;
}

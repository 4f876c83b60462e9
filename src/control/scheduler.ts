/**
 * The scheduling step of DESIGN.md §3, run by every process that hosts control: it takes
 * PENDING machines (or SCHEDULING ones whose scheduler died), claims resources with ClaimBest
 * (consumer = the machine's UUID, hosts that already failed it avoided), and in one transaction
 * moves the machine to PROVISIONING with its BUILD task for the chosen host. It also fails
 * tasks no executor has worked on for the task deadline (never leased, or a lapsed lease not
 * taken again). Replicas share the work through compare-and-swap on the machine's state, so
 * each machine is scheduled by one of them.
 */
import { MulliganError } from "../platform/errors.js";
import { newUuid, nowIso } from "../platform/ids.js";
import { SWEEP_WINDOW_MS, sweepEndedClaims } from "./claim-sweep.js";
import type { ControlDeps } from "./deps.js";
import type { GuestPayload, HeldAllocation, Machine, TaskKind } from "./model.js";
import { deployNode } from "./node-deploy.js";
import { queuePowerSyncs } from "./node-power-sync.js";
import { syncProvider } from "./nodes.js";
import * as repo from "./repo.js";
import { finish, later } from "./tasks.js";

/** How often the scheduler looks when nothing in this process woke it. */
const IDLE_MS = 1000;
/** Machines taken per round. */
const BATCH = 8;
/** The step an overdue task failed in, by kind. */
const OVERDUE_STEP: Record<TaskKind, string> = {
  BUILD_VM: "build",
  DESTROY_VM: "teardown",
  VERIFY_NODE: "verify",
  INSPECT_NODE: "inspect",
  CLEAN_NODE: "clean",
  DEPLOY_NODE: "deploy",
  UNDEPLOY_NODE: "undeploy",
  SYNC_POWER: "power-sync",
};

/** The amount of a class over a machine's allocations. */
function total(allocations: readonly HeldAllocation[], cls: string): number {
  return allocations.reduce((sum, a) => sum + (a.resources[cls] ?? 0), 0);
}

export class Scheduler {
  private readonly stop = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(private readonly deps: ControlDeps) {}

  start(): void {
    this.loop ??= this.run();
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    try {
      const since = new Date(Date.now() - SWEEP_WINDOW_MS).toISOString();
      await sweepEndedClaims(this.deps, since);
    } catch (err) {
      this.deps.logger.error({ err }, "sweeping left-behind claims failed");
    }
    while (!this.stop.signal.aborted) {
      const woken = this.deps.changed.wait(IDLE_MS, this.stop.signal);
      try {
        await this.round();
      } catch (err) {
        this.deps.logger.error({ err }, "scheduling round failed");
      }
      await woken;
    }
  }

  /**
   * One pass: schedule what waits, fail what no executor works on (repo.overdueTasks), queue
   * the power syncs of idle nodes that are due (node-power-sync.ts).
   */
  async round(): Promise<void> {
    const { store, settings } = this.deps;
    for (const m of await repo.schedulable(store.db, nowIso(), BATCH)) {
      if (this.stop.signal.aborted) return;
      await this.schedule(m);
    }
    const before = new Date(Date.now() - settings.taskDeadlineMs).toISOString();
    for (const found of await repo.overdueTasks(store.db, before, nowIso(), BATCH)) {
      // Taken first: an executor that leased or renewed it since it was read keeps it.
      const t = await repo.takeOverdueTask(
        store.db,
        found,
        `overdue:${newUuid()}`,
        later(settings.leaseMs),
        nowIso(),
      );
      if (!t) continue;
      await finish(this.deps, t, {
        step: OVERDUE_STEP[t.kind],
        reason: "EXECUTOR_LOST",
        message: `no executor worked on the task for ${Math.round(settings.taskDeadlineMs / 1000)} s`,
        hostFault: true,
      });
    }
    if (!this.stop.signal.aborted) await queuePowerSyncs(this.deps);
  }

  private async schedule(found: Machine): Promise<void> {
    const { store, placement, settings, logger } = this.deps;
    const now = nowIso();
    const hold = later(settings.scheduleHoldMs);
    const taken =
      found.state === "PENDING"
        ? await store.transaction((tx) =>
            repo.transition(tx, found, "SCHEDULING", {
              step: "schedule",
              message: "finding a host",
              scheduleUntil: hold,
              at: now,
            }),
          )
        : await repo.holdScheduling(store.db, found.uuid, now, hold);
    if (!taken) return;
    const m = { ...found, state: "SCHEDULING" as const };
    let allocations: HeldAllocation[];
    try {
      // A claim made before a crash is still there: use it instead of claiming twice.
      allocations = await placement.allocations(m.uuid);
      if (allocations.length === 0)
        allocations = await placement.claimBest({
          consumer: m.uuid,
          ownerUuid: m.ownerUuid,
          projectUuid: m.projectUuid,
          region: m.regionUuid,
          groups: m.spec.groups,
          distance: m.spec.distance,
          avoidHosts: m.attempts.map((a) => a.hostUuid),
        });
    } catch (err) {
      const e = MulliganError.from(err);
      if (e.code === "UNAVAILABLE" || e.code === "INTERNAL" || e.code === "ABORTED") {
        logger.warn({ err: e, machine: m.uuid }, "claim failed; the machine is retried");
        return;
      }
      const exhausted = e.code === "RESOURCE_EXHAUSTED";
      await store.transaction((tx) =>
        repo.transition(tx, m, "ERROR", {
          step: "schedule",
          failedStep: "schedule",
          reason: exhausted && e.reason === "NO_CANDIDATES" ? "NO_CAPACITY" : e.reason,
          message: `${exhausted ? "no host can take the machine" : "scheduling failed"}: ${e.message}`,
          at: nowIso(),
        }),
      );
      this.deps.changed.notify();
      return;
    }
    const first = allocations[0];
    if (!first) return;
    const host = await placement.rootOf(first.providerUuid);
    const image = await repo.findImage(store.db, m.imageUuid, null);
    let nodeTaken = false;
    const moved = await store.transaction(async (tx) => {
      const current = await repo.getMachine(tx, m.uuid);
      if (current?.state !== "SCHEDULING") return false;
      const attempts = [
        ...current.attempts,
        {
          number: current.attempts.length + 1,
          hostUuid: host.uuid,
          hostName: host.name,
          failedStep: "",
          reason: "",
          message: "",
        },
      ];
      const at = nowIso();
      if (!image) {
        return repo.transition(tx, current, "ERROR", {
          step: "schedule",
          failedStep: "image",
          reason: "IMAGE_NOT_FOUND",
          message: "the machine's image was deleted",
          at,
        });
      }
      const guest: GuestPayload = {
        machineUuid: m.uuid,
        hostname: m.name,
        vcpus: total(allocations, "VCPU"),
        memoryMb: total(allocations, "MEMORY_MB"),
        diskGb: total(allocations, "DISK_GB"),
        image,
        sshKeys: m.spec.sshKeys,
        userData: m.spec.userData,
      };
      if (m.kind === "BAREMETAL") {
        // The node may have left AVAILABLE since the claim (maintenance, an operator's clean).
        nodeTaken = !(await deployNode(tx, current, host.uuid, image, at));
        if (nodeTaken)
          return repo.transition(tx, current, "PENDING", {
            step: "schedule",
            message: `node ${host.name || host.uuid} is no longer available; trying again`,
            at,
          });
      } else
        await repo.insertTask(
          tx,
          { uuid: newUuid(), kind: "BUILD_VM", machineUuid: m.uuid, hostUuid: host.uuid, guest },
          at,
        );
      return repo.transition(tx, current, "PROVISIONING", {
        step: "schedule",
        message: `attempt ${attempts.length}: building on ${host.name || host.uuid}`,
        hostUuid: host.uuid,
        hostName: host.name,
        allocations,
        attempts,
        at,
      });
    });
    // Decommissioned (or gone ERROR) while the claim ran: give the resources back.
    const after = await repo.getMachine(store.db, m.uuid);
    // The node was taken meanwhile (the machine is PENDING again): the claim goes back too.
    if (!moved || nodeTaken || after?.state === "ERROR" || after?.state === "DELETED")
      await placement.release(m.uuid);
    if (m.kind === "BAREMETAL") await syncProvider(this.deps, host.uuid);
    this.deps.changed.notify();
  }
}

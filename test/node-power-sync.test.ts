/**
 * The periodic power sync of idle nodes over real gRPC on both stores, the conductor played by
 * this test through ExecutorService (sync interval 400 ms, three failures allowed): an idle node
 * gets a SYNC_POWER task once its power was unchecked for the interval — no step (no target
 * state, no target power), never a second one while one is open, none while a step runs (a step
 * cancels an open sync) nor while the node is in maintenance; a power that changed out of band
 * is recorded and said; three syncs failing in a row put the node in maintenance with the
 * reason, which holds its tasks; a success in between resets the count.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  GuestPowerState,
  MachineKind,
  MachineService,
  MachineState,
  type Task,
  TaskKind,
} from "../src/gen/mulligan/control/v1/control_pb.js";
import {
  type Node,
  NodeService,
  NodeState,
  PowerState,
} from "../src/gen/mulligan/control/v1/node_pb.js";
import { openStore } from "../src/store/store.js";
import { forEachStore } from "./harness.js";
import { availableNode, conductorPlayer, done, setupLab } from "./node-helpers.js";

const INTERVAL_MS = 400;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const bmcDown = {
  case: "failure" as const,
  value: {
    step: "power-sync",
    reason: "BMC_UNREACHABLE",
    message: "no answer from 127.0.0.1:623",
    hostFault: true,
  },
};

forEachStore(
  "nodes: power sync",
  (server) => {
    let conductor = "";
    let nodeUuid = "";
    const nodes = () => server().client(NodeService);
    const machines = () => server().client(MachineService);
    const node = async () => (await nodes().getNode({ node: "bm-s" })).node as Node;
    const { poll, lease, report } = conductorPlayer(server, () => conductor);
    /** What the conductor's sync reports: the power read, then done. */
    const synced = async (t: Task, power: PowerState) => {
      await report(t, { step: "power-sync", powerState: power });
      await report(t, { result: done });
    };
    /** The node's open SYNC_POWER tasks, straight from the store. */
    const openSyncs = async () => {
      const store = await openStore(server().storeUrl);
      try {
        const rows = await store.db
          .selectFrom("control_tasks")
          .select("uuid")
          .where("node_uuid", "=", nodeUuid)
          .where("kind", "=", "SYNC_POWER")
          .where("state", "in", ["ready", "leased"])
          .execute();
        return rows.length;
      } finally {
        await store.close();
      }
    };
    const maintenance = (on: boolean) =>
      nodes().setMaintenance({ node: "bm-s", maintenance: on, reason: on ? "fan swap" : "" });

    test("setup: an AVAILABLE node, powered off", async () => {
      conductor = await setupLab(server(), "e".repeat(64));
      const n = await availableNode(
        server,
        conductorPlayer(server, () => conductor),
        "bm-s",
        "52:54:00:00:0e:01",
        PowerState.OFF,
      );
      nodeUuid = n.uuid;
      assert.equal(n.powerState, PowerState.OFF);
    });

    test("an idle node gets a sync after the interval; it is no step, and the same power changes nothing", async () => {
      const t = await lease(TaskKind.SYNC_POWER);
      assert.equal(t.node?.nodeUuid, nodeUuid);
      assert.equal(t.node?.bmc?.password, "p", "the conductor needs the BMC password to read");
      let n = await node();
      assert.equal(n.state, NodeState.AVAILABLE);
      assert.equal(n.targetState, NodeState.UNSPECIFIED);
      assert.equal(n.targetPowerState, PowerState.UNSPECIFIED);
      await synced(t, PowerState.OFF);
      n = await node();
      assert.equal(n.state, NodeState.AVAILABLE);
      assert.equal(n.powerState, PowerState.OFF);
      assert.equal(n.message, "disks erased; available");
    });

    test("no second sync while one is open", async () => {
      const t = await lease(TaskKind.SYNC_POWER);
      await sleep(3 * INTERVAL_MS + 1200);
      assert.deepEqual(await poll(), []);
      assert.equal(await openSyncs(), 1);
      await synced(t, PowerState.OFF);
    });

    test("a power changed out of band is recorded and said; the state stays", async () => {
      await synced(await lease(TaskKind.SYNC_POWER), PowerState.ON);
      const n = await node();
      assert.equal(n.powerState, PowerState.ON);
      assert.equal(n.message, "power changed out of band: off → on");
      assert.equal(n.state, NodeState.AVAILABLE);
      assert.equal(n.targetPowerState, PowerState.UNSPECIFIED);
    });

    test("a step cancels the open sync, and no sync is queued while the step runs", async () => {
      const t = await lease(TaskKind.SYNC_POWER);
      await nodes().cleanNode({ node: "bm-s" });
      const answer = await report(t, { step: "power-sync", powerState: PowerState.OFF });
      assert.equal(answer.cancelled, true);
      assert.equal((await node()).powerState, PowerState.ON, "a cancelled sync's read was kept");
      const clean = await lease(TaskKind.CLEAN_NODE);
      await sleep(3 * INTERVAL_MS + 1200);
      assert.deepEqual(await poll(), []);
      assert.equal(await openSyncs(), 0);
      await report(clean, { result: done, powerState: PowerState.OFF });
      const n = await node();
      assert.equal(n.state, NodeState.AVAILABLE);
      assert.equal(
        n.message,
        "disks erased; available",
        "the step's power is no out-of-band change",
      );
    });

    test("no sync is queued for a node in maintenance", async () => {
      await synced(await lease(TaskKind.SYNC_POWER), PowerState.OFF);
      await maintenance(true);
      await sleep(3 * INTERVAL_MS + 1200);
      assert.equal(await openSyncs(), 0);
      await maintenance(false);
      await synced(await lease(TaskKind.SYNC_POWER), PowerState.OFF);
    });

    test("three failed syncs in a row put the node in maintenance with the reason; its tasks are held", async () => {
      const m = (
        await machines().provision({
          spec: {
            name: "metal-s",
            image: "os",
            kind: MachineKind.BAREMETAL,
            groups: [{ resources: { CUSTOM_BAREMETAL_SMALL: 1n } }],
          },
        })
      ).machine;
      await report(await lease(TaskKind.DEPLOY_NODE), { result: done, powerState: PowerState.ON });
      assert.equal((await node()).state, NodeState.ACTIVE);

      // One failure, then a success: the count starts again.
      await report(await lease(TaskKind.SYNC_POWER), { result: bmcDown });
      let n = await node();
      assert.equal(
        n.message,
        "power sync failed (1 of 3): no answer from 127.0.0.1:623 (BMC_UNREACHABLE)",
      );
      assert.equal(n.maintenance, false);
      await synced(await lease(TaskKind.SYNC_POWER), PowerState.ON);
      assert.equal(
        (await node()).message,
        "the BMC answers again (power on) after 1 failed power syncs",
      );

      for (const count of [1, 2]) {
        await report(await lease(TaskKind.SYNC_POWER), { result: bmcDown });
        n = await node();
        assert.equal(n.maintenance, false, `in maintenance after ${count} failures`);
        assert.match(n.message, new RegExp(`power sync failed \\(${count} of 3\\)`));
      }
      await report(await lease(TaskKind.SYNC_POWER), { result: bmcDown });
      n = await node();
      assert.equal(n.maintenance, true);
      assert.equal(
        n.maintenanceReason,
        "power sync failed: no answer from 127.0.0.1:623 (BMC_UNREACHABLE)",
      );
      // Nothing else moved: the node is ACTIVE with the power last read, and no step failed.
      assert.equal(n.state, NodeState.ACTIVE);
      assert.equal(n.powerState, PowerState.ON);
      assert.equal(n.lastError, undefined);

      // Held: no sync is queued, and the undeploy of a decommission waits for the operator.
      await machines().decommission({ machine: m?.uuid ?? "" });
      assert.equal((await node()).state, NodeState.CLEANING);
      await sleep(3 * INTERVAL_MS + 1200);
      assert.deepEqual(await poll(), []);
      assert.equal(await openSyncs(), 0);

      // Ending maintenance is the operator's decision; then the undeploy goes on.
      await maintenance(false);
      await report(await lease(TaskKind.UNDEPLOY_NODE), {
        result: done,
        powerState: PowerState.OFF,
      });
      assert.equal((await node()).state, NodeState.AVAILABLE);
      const after = (await machines().getMachine({ machine: m?.uuid ?? "" })).machine;
      assert.equal(after?.state, MachineState.DELETED);
    });

    test("an ACTIVE node's machine shows the node's power: the deploy's read, then a sync's out-of-band change", async () => {
      const m = (
        await machines().provision({
          spec: {
            name: "metal-p",
            image: "os",
            kind: MachineKind.BAREMETAL,
            groups: [{ resources: { CUSTOM_BAREMETAL_SMALL: 1n } }],
          },
        })
      ).machine;
      const uuid = m?.uuid ?? "";
      await report(await lease(TaskKind.DEPLOY_NODE), { result: done, powerState: PowerState.ON });
      let shown = (await machines().getMachine({ machine: uuid })).machine;
      assert.equal(shown?.state, MachineState.ACTIVE);
      assert.equal(GuestPowerState[shown?.powerState ?? 0], "RUNNING");

      // Someone powers the node off at its BMC: the next sync reads it, node and machine follow.
      await synced(await lease(TaskKind.SYNC_POWER), PowerState.OFF);
      assert.equal((await node()).message, "power changed out of band: on → off");
      shown = (await machines().getMachine({ machine: uuid })).machine;
      assert.equal(shown?.state, MachineState.ACTIVE, "the lifecycle does not move");
      assert.equal(GuestPowerState[shown?.powerState ?? 0], "STOPPED");
      const events: string[] = [];
      for await (const r of machines().watchMachine({ machine: uuid })) {
        if (r.event)
          events.push(`${MachineState[r.event.state]}:${r.event.step}:${r.event.message}`);
        if (r.event?.message.includes("node is off")) break;
      }
      assert.ok(
        events.includes("ACTIVE:power:power: stopped — the node is off (read from its BMC)"),
        events.join("\n"),
      );

      await machines().decommission({ machine: uuid });
      await report(await lease(TaskKind.UNDEPLOY_NODE), {
        result: done,
        powerState: PowerState.OFF,
      });
      assert.equal((await node()).state, NodeState.AVAILABLE);
    });
  },
  {
    configure: (config) => {
      config.control = { powerSyncIntervalMs: INTERVAL_MS, powerSyncMaxFailures: 3 };
    },
  },
);

/**
 * Maintenance holds every automatic action on a node, over real gRPC on both stores, the
 * conductor played by this test through ExecutorService (lease 1 s, task deadline 2 s): a step
 * queued before maintenance is neither leased nor failed overdue while it lasts and runs when it
 * ends; decommissioning a machine on a node in maintenance records it DECOMMISSIONING and queues
 * the undeploy, which waits the same way; a step whose lease lapsed while the node is in
 * maintenance (its conductor restarted) is not delivered again — it fails CONDUCTOR_RESTARTED
 * with the node's power left as it was.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code } from "@connectrpc/connect";
import {
  MachineKind,
  MachineService,
  MachineState,
  TaskKind,
} from "../src/gen/mulligan/control/v1/control_pb.js";
import {
  type Node,
  NodeService,
  NodeState,
  PowerState,
} from "../src/gen/mulligan/control/v1/node_pb.js";
import { assertNothingHeld, expectGrpcError, forEachStore } from "./harness.js";
import { availableNode, conductorPlayer, done, setupLab } from "./node-helpers.js";

const LEASE_MS = 1000;
const DEADLINE_MS = 2000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

forEachStore(
  "nodes: maintenance holds every automatic action",
  (server) => {
    let conductor = "";
    const nodes = () => server().client(NodeService);
    const machines = () => server().client(MachineService);
    const node = async () => (await nodes().getNode({ node: "bm-m" })).node as Node;
    const { poll, lease, report } = conductorPlayer(server, () => conductor);
    const maintenance = (on: boolean) =>
      nodes().setMaintenance({ node: "bm-m", maintenance: on, reason: on ? "fan swap" : "" });

    test("setup: an AVAILABLE node, an image, a conductor", async () => {
      conductor = await setupLab(server(), "d".repeat(64));
      await availableNode(
        server,
        conductorPlayer(server, () => conductor),
        "bm-m",
        "52:54:00:00:0d:01",
      );
    });

    test("a step queued before maintenance is neither leased nor overdue while it lasts; it runs after", async () => {
      await nodes().cleanNode({ node: "bm-m" });
      await maintenance(true);
      assert.deepEqual(await poll(), [], "a task of a node in maintenance was leased");
      // Well past the task deadline: the scheduler fails nothing.
      await sleep(DEADLINE_MS + 1500);
      assert.deepEqual(await poll(), []);
      let n = await node();
      assert.equal(n.state, NodeState.CLEANING);
      assert.equal(n.lastError, undefined);
      await maintenance(false);
      // The deadline counts from the end of maintenance: a scheduler round now fails nothing.
      await sleep(DEADLINE_MS / 2);
      const t = await lease(TaskKind.CLEAN_NODE);
      assert.equal(t.deliveries, 1);
      await report(t, { result: done });
      n = await node();
      assert.equal(n.state, NodeState.AVAILABLE);
      assert.equal(n.lastError, undefined);
    });

    test("decommission on a node in maintenance: DECOMMISSIONING, the undeploy queued and held", async () => {
      const m = (
        await machines().provision({
          spec: {
            name: "metal-m",
            image: "os",
            kind: MachineKind.BAREMETAL,
            groups: [{ resources: { CUSTOM_BAREMETAL_SMALL: 1n } }],
          },
        })
      ).machine;
      assert.ok(m);
      await report(await lease(TaskKind.DEPLOY_NODE), { result: done, powerState: PowerState.ON });
      assert.equal((await node()).state, NodeState.ACTIVE);
      await maintenance(true);
      const d = (await machines().decommission({ machine: m.uuid })).machine;
      assert.equal(d?.state, MachineState.DECOMMISSIONING);
      let n = await node();
      assert.equal(n.state, NodeState.CLEANING);
      assert.equal(n.targetState, NodeState.AVAILABLE);
      assert.equal(n.targetPowerState, PowerState.OFF);
      assert.deepEqual(await poll(), [], "the undeploy of a node in maintenance was leased");
      await sleep(DEADLINE_MS + 1500);
      assert.deepEqual(await poll(), []);
      assert.equal(
        (await machines().getMachine({ machine: m.uuid })).machine?.state,
        MachineState.DECOMMISSIONING,
      );
      assert.equal((await node()).powerState, PowerState.ON, "nobody powered the node off");
      await maintenance(false);
      await report(await lease(TaskKind.UNDEPLOY_NODE), {
        result: done,
        powerState: PowerState.OFF,
      });
      assert.equal(
        (await machines().getMachine({ machine: m.uuid })).machine?.state,
        MachineState.DELETED,
      );
      n = await node();
      assert.equal(n.state, NodeState.AVAILABLE);
      await assertNothingHeld(server(), m.uuid);
    });

    test("a step whose conductor restarted during maintenance fails CONDUCTOR_RESTARTED, power untouched", async () => {
      await nodes().cleanNode({ node: "bm-m" });
      const t = await lease(TaskKind.CLEAN_NODE);
      await report(t, { step: "boot-agent", message: "powered on", powerState: PowerState.ON });
      await maintenance(true);
      // The conductor dies: its lease lapses; the next poll of the group hands nothing out.
      await sleep(LEASE_MS + 500);
      assert.deepEqual(
        await poll(),
        [],
        "an interrupted step of a node in maintenance was redelivered",
      );
      const n = await node();
      assert.equal(n.state, NodeState.CLEAN_FAILED);
      assert.equal(n.lastError?.step, "clean");
      assert.equal(n.lastError?.reason, "CONDUCTOR_RESTARTED");
      assert.match(n.lastError?.message ?? "", /in maintenance/);
      assert.equal(n.powerState, PowerState.ON, "the node's power was left as it was");
      assert.equal(n.targetPowerState, PowerState.UNSPECIFIED);
      assert.equal(n.maintenance, true);
      await expectGrpcError(
        report(t, { step: "erase", message: "late" }),
        Code.FailedPrecondition,
        "LEASE_LOST",
      );
      // Once maintenance ends, the operator cleans the node again.
      await maintenance(false);
      await nodes().cleanNode({ node: "bm-m" });
      await report(await lease(TaskKind.CLEAN_NODE), { result: done });
      assert.equal((await node()).state, NodeState.AVAILABLE);
    });
  },
  {
    configure: (config) => {
      config.control = { leaseMs: LEASE_MS, taskDeadlineMs: DEADLINE_MS, maxAttempts: 1 };
    },
  },
);

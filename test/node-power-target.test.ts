/**
 * A node's target power state over real gRPC on both stores (Ironic's target_power_state): set
 * when a step that changes the node's power is queued — OFF for inspect, clean and undeploy, ON
 * for deploy; verify changes nothing — kept while the step runs (whatever power it reports on
 * the way), and cleared when the step ends, succeeded or failed, with the power it reported as
 * the node's power state. The conductor's side is played by this test through ExecutorService.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  MachineKind,
  MachineService,
  MachineState,
  TaskKind,
} from "../src/gen/mulligan/control/v1/control_pb.js";
import {
  BmcDriver,
  type Node,
  NodeService,
  NodeState,
  PowerState,
} from "../src/gen/mulligan/control/v1/node_pb.js";
import { forEachStore } from "./harness.js";
import { conductorPlayer, done, setupLab } from "./node-helpers.js";

const { ON, OFF, UNSPECIFIED: NONE } = PowerState;
const metal = (name: string) => ({
  name,
  image: "os",
  kind: MachineKind.BAREMETAL,
  groups: [{ resources: { CUSTOM_BAREMETAL_SMALL: 1n } }],
});
const failure = (step: string, reason: string) => ({
  case: "failure" as const,
  value: { step, reason, message: `${step} broke`, hostFault: false },
});

forEachStore("nodes: target power state", (server) => {
  let conductor = "";
  const nodes = () => server().client(NodeService);
  const machines = () => server().client(MachineService);
  const node = async () => (await nodes().getNode({ node: "bm-p" })).node as Node;
  const { lease, report } = conductorPlayer(server, () => conductor);
  /** The node's [state, power, target power]. */
  const power = async () => {
    const n = await node();
    return [NodeState[n.state], PowerState[n.powerState], PowerState[n.targetPowerState]];
  };
  const expect = async (state: NodeState, now: PowerState, target: PowerState) =>
    assert.deepEqual(await power(), [NodeState[state], PowerState[now], PowerState[target]]);

  test("setup: a region, an image, a conductor", async () => {
    conductor = await setupLab(server(), "c".repeat(64));
  });

  test("verify changes no power: no target; the power it read is recorded", async () => {
    await nodes().enrollNode({
      name: "bm-p",
      region: "lab",
      bmc: { driver: BmcDriver.IPMI, address: "127.0.0.1", username: "u", password: "p" },
      bootMacs: ["52:54:00:00:0c:01"],
      flavor: "small",
    });
    await expect(NodeState.VERIFYING, NONE, NONE);
    await report(await lease(TaskKind.VERIFY_NODE), { result: done, powerState: ON });
    await expect(NodeState.MANAGEABLE, ON, NONE);
  });

  test("inspect: target OFF while queued and running (the agent boots: power ON), cleared at the end", async () => {
    await nodes().inspectNode({ node: "bm-p" });
    await expect(NodeState.INSPECTING, ON, OFF);
    const t = await lease(TaskKind.INSPECT_NODE);
    await report(t, { step: "boot-agent", message: "powered on", powerState: ON });
    await expect(NodeState.INSPECTING, ON, OFF);
    await report(t, {
      result: done,
      powerState: OFF,
      inventory: { cpus: 1, memoryMb: 512n, disks: [{ name: "vda", sizeBytes: 1n << 30n }] },
    });
    await expect(NodeState.MANAGEABLE, OFF, NONE);
  });

  test("a failed clean clears the target too; cleaning again sets it again", async () => {
    await nodes().cleanNode({ node: "bm-p" });
    await expect(NodeState.CLEANING, OFF, OFF);
    const t = await lease(TaskKind.CLEAN_NODE);
    await report(t, { step: "boot-agent", message: "powered on", powerState: ON });
    await report(t, { result: failure("erase", "ERASE_FAILED") });
    await expect(NodeState.CLEAN_FAILED, ON, NONE);
    await nodes().cleanNode({ node: "bm-p" });
    await expect(NodeState.CLEANING, ON, OFF);
    await report(await lease(TaskKind.CLEAN_NODE), { result: done, powerState: OFF });
    await expect(NodeState.AVAILABLE, OFF, NONE);
  });

  test("deploy: target ON while it runs; after it completes the target is empty and the power ON", async () => {
    const m = (await machines().provision({ spec: metal("metal-p") })).machine;
    const t = await lease(TaskKind.DEPLOY_NODE);
    await expect(NodeState.DEPLOYING, OFF, ON);
    await report(t, { step: "write-image", message: "writing os" });
    await expect(NodeState.DEPLOYING, OFF, ON);
    await report(t, { result: done, powerState: ON });
    await expect(NodeState.ACTIVE, ON, NONE);

    // Decommission: undeploy drives the node off; a failed undeploy clears the target.
    await machines().decommission({ machine: m?.uuid ?? "" });
    await expect(NodeState.CLEANING, ON, OFF);
    const u = await lease(TaskKind.UNDEPLOY_NODE);
    await report(u, { result: failure("power", "BMC_UNREACHABLE") });
    await expect(NodeState.CLEAN_FAILED, ON, NONE);
    const failed = (await machines().getMachine({ machine: m?.uuid ?? "" })).machine;
    assert.equal(failed?.state, MachineState.ERROR);
    // Decommissioning again undeploys again: target OFF, then cleared.
    await machines().decommission({ machine: m?.uuid ?? "" });
    await expect(NodeState.CLEANING, ON, OFF);
    await report(await lease(TaskKind.UNDEPLOY_NODE), { result: done, powerState: OFF });
    await expect(NodeState.AVAILABLE, OFF, NONE);
  });

  test("a failed deploy clears the target; a decommission during a deploy turns it to OFF", async () => {
    await machines().provision({ spec: metal("metal-q") });
    await report(await lease(TaskKind.DEPLOY_NODE), { result: failure("write-image", "NO_DISK") });
    await expect(NodeState.DEPLOY_FAILED, OFF, NONE);

    await nodes().cleanNode({ node: "bm-p" });
    await report(await lease(TaskKind.CLEAN_NODE), { result: done, powerState: OFF });
    const m = (await machines().provision({ spec: metal("metal-r") })).machine;
    await lease(TaskKind.DEPLOY_NODE);
    await expect(NodeState.DEPLOYING, OFF, ON);
    await machines().decommission({ machine: m?.uuid ?? "" });
    await expect(NodeState.CLEANING, OFF, OFF);
    await report(await lease(TaskKind.UNDEPLOY_NODE), { result: done, powerState: OFF });
    await expect(NodeState.AVAILABLE, OFF, NONE);
  });
});

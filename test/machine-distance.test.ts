/**
 * Distance constraints on Provision, over real gRPC on both stores: VM hosts and bare-metal
 * nodes in racks (provider groups of level RACK), machines that must share a rack with another
 * machine or avoid its rack, landing where the constraint says (the unconstrained choice, the
 * emptiest host, lies elsewhere), NO_CAPACITY with the engine's explanation when nothing
 * satisfies it, and bad constraints refused with a reason and the field. The conductor's side of
 * the node steps is played by this test through ExecutorService.
 *
 *   rack-a: host a1 (4 VCPU)  node bm-a
 *   rack-b: host b1 (16 VCPU), host b2 (4 VCPU)  nodes bm-b1, bm-b2
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import {
  ExecutorService,
  type Machine,
  MachineKind,
  MachineService,
  type MachineSpecSchema,
  MachineState,
  type Task,
  TaskKind,
} from "../src/gen/mulligan/control/v1/control_pb.js";
import { BmcDriver, NodeService, NodeState } from "../src/gen/mulligan/control/v1/node_pb.js";
import {
  GroupLevel,
  DistanceConstraint_Relation as Relation,
  ResourceService,
} from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { newUuid } from "../src/platform/ids.js";
import { expectGrpcError, forEachStore, type TestServer } from "./harness.js";
import { addHost, registerKernelImage } from "./machine-helpers.js";

const SAME = Relation.SAME;
const DIFFERENT = Relation.DIFFERENT;
type Constraint = { relation: Relation; level: GroupLevel; consumers: string[] };
const rack = (relation: Relation, ...consumers: string[]): Constraint => ({
  relation,
  level: GroupLevel.RACK,
  consumers,
});

const vm = (name: string, distance: Constraint[] = [], inTree = "") => ({
  name,
  image: "tiny",
  kind: MachineKind.VM,
  groups: [{ resources: { VCPU: 1n, MEMORY_MB: 256n }, inTree }],
  distance,
});
const metal = (name: string, distance: Constraint[] = []) => ({
  name,
  image: "tiny",
  kind: MachineKind.BAREMETAL,
  groups: [{ resources: { CUSTOM_BAREMETAL_SMALL: 1n } }],
  distance,
});

/** The machine once it left PENDING/SCHEDULING (PROVISIONING with a host, or ERROR). */
async function placed(s: TestServer, uuid: string): Promise<Machine> {
  const end = Date.now() + 10_000;
  for (;;) {
    const m = (await s.client(MachineService).getMachine({ machine: uuid })).machine;
    assert.ok(m);
    if (m.state !== MachineState.PENDING && m.state !== MachineState.SCHEDULING) return m;
    if (Date.now() > end) assert.fail(`machine ${m.name} is still ${MachineState[m.state]}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

forEachStore("Provision with distance constraints", (server) => {
  let conductor = "";
  const machines = () => server().client(MachineService);
  const provision = async (spec: MessageInitShape<typeof MachineSpecSchema>) => {
    const m = (await machines().provision({ spec })).machine;
    assert.ok(m);
    return placed(server(), m.uuid);
  };
  const lease = async (kind: TaskKind): Promise<Task> => {
    const r = await server()
      .client(ExecutorService, conductor)
      .leaseTasks({ hosts: ["conductor-host"], conductorGroup: "default", waitSeconds: 5 });
    const t = r.tasks[0];
    assert.ok(t, `no task (wanted ${TaskKind[kind]})`);
    assert.equal(TaskKind[t.kind], TaskKind[kind]);
    return t;
  };
  const done = (t: Task, extra: Record<string, unknown> = {}) =>
    server()
      .client(ExecutorService, conductor)
      .reportTask({
        taskUuid: t.uuid,
        leaseToken: t.leaseToken,
        result: { case: "done", value: true },
        ...extra,
      });
  let m1 = "";
  let m2 = "";

  /** A node enrolled, verified, inspected and cleaned (AVAILABLE), in `group`. */
  async function availableNode(name: string, mac: string, group: string) {
    const s = server();
    const nodes = s.client(NodeService);
    const n = (
      await nodes.enrollNode({
        name,
        region: "lab",
        bmc: { driver: BmcDriver.IPMI, address: "127.0.0.1", username: "u", password: "p" },
        bootMacs: [mac],
        flavor: "small",
      })
    ).node;
    assert.ok(n);
    await done(await lease(TaskKind.VERIFY_NODE));
    await nodes.inspectNode({ node: name });
    await done(await lease(TaskKind.INSPECT_NODE), {
      inventory: { cpus: 1, memoryMb: 512n, disks: [{ name: "vda", sizeBytes: 1n << 30n }] },
    });
    await nodes.cleanNode({ node: name });
    await done(await lease(TaskKind.CLEAN_NODE));
    assert.equal((await nodes.getNode({ node: name })).node?.state, NodeState.AVAILABLE);
    await inGroup(n.uuid, group);
  }

  async function inGroup(provider: string, group: string) {
    const res = server().client(ResourceService);
    const p = (await res.getProvider({ provider })).provider;
    await res.setProviderGroups({ provider, generation: p?.generation ?? 0n, groups: [group] });
  }

  test("setup: racks, VM hosts, AVAILABLE nodes, an image, a machine in each rack", async () => {
    const s = server();
    await s.meta().createRegion({ name: "lab" });
    const res = s.client(ResourceService);
    for (const name of ["rack-a", "rack-b"])
      await res.createProviderGroup({ name, level: GroupLevel.RACK });
    await inGroup(await addHost(s, "a1", 4), "rack-a");
    await inGroup(await addHost(s, "b1", 16), "rack-b");
    await inGroup(await addHost(s, "b2", 4), "rack-b");
    await registerKernelImage(s, "tiny");
    await res.createProvider({ name: "conductor-host", region: "lab" });
    conductor = await s.tokenFor({ role: "executor", project: null, kind: "executor" });
    await availableNode("bm-a", "52:54:00:00:0a:01", "rack-a");
    await availableNode("bm-b1", "52:54:00:00:0b:01", "rack-b");
    await availableNode("bm-b2", "52:54:00:00:0b:02", "rack-b");

    const first = await provision(vm("m1", [], "a1"));
    assert.equal(first.hostName, "a1");
    m1 = first.uuid;
    const second = await provision(vm("m2", [], "b2"));
    assert.equal(second.hostName, "b2");
    m2 = second.uuid;
    // Unconstrained, a machine goes to the emptiest host: b1 (rack-b).
    assert.equal((await provision(vm("free"))).hostName, "b1");
  });

  test("VM: same rack as m1 lands in rack-a, different rack from m2 too; the spec keeps them", async () => {
    const same = await provision(vm("near-m1", [rack(SAME, m1)]));
    assert.equal(same.state, MachineState.PROVISIONING, same.message);
    assert.equal(same.hostName, "a1");
    assert.deepEqual(
      same.spec?.distance.map((d) => [d.relation, d.level, d.consumers]),
      [[SAME, GroupLevel.RACK, [m1]]],
    );
    const away = await provision(vm("away-m2", [rack(DIFFERENT, m2)]));
    assert.equal(away.hostName, "a1");
  });

  test("VM: a constraint nothing satisfies is ERROR NO_CAPACITY with the engine's explanation", async () => {
    const m = await provision(vm("nowhere", [rack(SAME, m1), rack(DIFFERENT, m1)]));
    assert.equal(m.state, MachineState.ERROR);
    assert.equal(m.reason, "NO_CAPACITY");
    assert.equal(m.failedStep, "schedule");
    assert.match(m.message, /no host can take the machine: .*\(distance: \d+ trees removed\)/);
  });

  test("BAREMETAL: same rack as m1 gets the rack-a node, different rack from m1 a rack-b node", async () => {
    // Three nodes of one flavor: each round the unconstrained choice would be bm-a one time in
    // three; the last machine stays on bm-a.
    for (let round = 1; round <= 3; round++) {
      const near = await provision(metal(`metal-near-${round}`, [rack(SAME, m1)]));
      assert.equal(near.state, MachineState.PROVISIONING, near.message);
      assert.equal(near.hostName, "bm-a");
      await done(await lease(TaskKind.DEPLOY_NODE));
      if (round === 3) break;
      await machines().decommission({ machine: near.uuid });
      await done(await lease(TaskKind.UNDEPLOY_NODE));
    }
    const away = await provision(metal("metal-away", [rack(DIFFERENT, m1)]));
    assert.match(away.hostName, /^bm-b[12]$/);
  });

  test("BAREMETAL: the only node in m1's rack is taken: NO_CAPACITY though a rack-b node is free", async () => {
    const m = await provision(metal("metal-full", [rack(SAME, m1)]));
    assert.equal(m.state, MachineState.ERROR);
    assert.equal(m.reason, "NO_CAPACITY");
    assert.match(m.message, /\(distance: \d+ trees removed\)/);
    const free = await provision(metal("metal-free"));
    assert.equal(free.state, MachineState.PROVISIONING, "a rack-b node was free after all");
  });

  test("bad constraints: INVALID_ARGUMENT with the reason and the field", async () => {
    const cases: [string, Constraint[], string, string][] = [
      [
        "no relation",
        [{ ...rack(SAME, m1), relation: Relation.UNSPECIFIED }],
        "FIELD_REQUIRED",
        "spec.distance[0].relation",
      ],
      [
        "unknown relation",
        [{ ...rack(SAME, m1), relation: 7 as Relation }],
        "ENUM_UNKNOWN",
        "spec.distance[0].relation",
      ],
      [
        "no level",
        [{ ...rack(SAME, m1), level: GroupLevel.UNSPECIFIED }],
        "FIELD_REQUIRED",
        "spec.distance[0].level",
      ],
      ["no machines", [rack(SAME)], "FIELD_REQUIRED", "spec.distance[0].consumers"],
      [
        "a name, not a UUID",
        [rack(SAME, m1), rack(DIFFERENT, m1, "m2")],
        "UUID_INVALID",
        "spec.distance[1].consumers[1]",
      ],
    ];
    for (const [what, distance, reason, field] of cases) {
      const err = await expectGrpcError(
        machines().provision({ spec: vm("bad", distance) }),
        Code.InvalidArgument,
        reason,
        field,
      );
      assert.ok(err.message.length > 0, what);
    }
    await expectGrpcError(
      machines().provision({ spec: metal("bad", [rack(SAME, newUuid())]) }),
      Code.NotFound,
      "MACHINE_NOT_FOUND",
      "spec.distance[0].consumers[0]",
    );
  });

  test("another project's machine is NOT_FOUND, like one that does not exist", async () => {
    const s = server();
    const member = await s.tokenFor({ role: "member", project: "tenant-b" });
    await expectGrpcError(
      s.client(MachineService, member).provision({ spec: vm("probe", [rack(SAME, m1)]) }),
      Code.NotFound,
      "MACHINE_NOT_FOUND",
      "spec.distance[0].consumers[0]",
    );
    const own = (await s.client(MachineService, member).provision({ spec: vm("own") })).machine;
    assert.ok(own, "the member may provision without the constraint");
  });
});

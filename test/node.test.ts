/**
 * NodeService and the bare-metal half of the task machinery over real gRPC on both stores, the
 * conductor's side played by this test through ExecutorService (the real conductor, BMCs and
 * agent run in baremetal-e2e.test.ts): enrollment input errors, the write-only password (never
 * in a response, a log line or the database in clear), the node lifecycle with its refusals,
 * bare-metal scheduling through the resource engine, a failed deploy withholding the node until
 * it is cleaned, maintenance, and who may do what.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import {
  ExecutorService,
  ImageService,
  MachineKind,
  MachineService,
  MachineState,
  type Task,
  TaskKind,
} from "../src/gen/mulligan/control/v1/control_pb.js";
import {
  BmcDriver,
  type EnrollNodeRequestSchema,
  NodeService,
  NodeState,
  PowerState,
} from "../src/gen/mulligan/control/v1/node_pb.js";
import { ResourceService } from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { openStore } from "../src/store/store.js";
import { assertNothingHeld, capturingLogger, expectGrpcError, forEachStore } from "./harness.js";

const SHA = "b".repeat(64);
const PASSWORD = "s3cret-Bmc-pw!";
const { logger, lines: logLines } = capturingLogger();

type EnrollInit = MessageInitShape<typeof EnrollNodeRequestSchema>;
const enrollReq = (
  over: { name?: string; region?: string; bootMacs?: string[]; flavor?: string } = {},
  bmc: {
    driver?: BmcDriver;
    address?: string;
    port?: number;
    password?: string;
    scheme?: string;
  } = {},
): EnrollInit => ({
  name: "bm-1",
  region: "lab",
  bmc: {
    driver: BmcDriver.IPMI,
    address: "127.0.0.1",
    port: 9623,
    username: "admin",
    password: PASSWORD,
    ...bmc,
  },
  bootMacs: ["52:54:00:12:34:56"],
  flavor: "small",
  properties: { capabilities: "CUSTOM_RAID" },
  ...over,
});

const bareMetal = (name: string) => ({
  name,
  image: "os",
  kind: MachineKind.BAREMETAL,
  groups: [{ resources: { CUSTOM_BAREMETAL_SMALL: 1n }, requiredCapabilities: ["CUSTOM_RAID"] }],
});

async function waitFor<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean) {
  const end = Date.now() + 10_000;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > end)
      assert.fail(
        `${what}: still ${JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? Number(x) : x))}`,
      );
    await new Promise((r) => setTimeout(r, 50));
  }
}

forEachStore(
  "nodes: enrollment, lifecycle, bare-metal scheduling",
  (server) => {
    let conductor = "";
    const nodes = (token?: string) => server().client(NodeService, token);
    const node = async (ref: string) => (await nodes().getNode({ node: ref })).node;
    const lease = async (kind: TaskKind): Promise<Task> => {
      const ex = server().client(ExecutorService, conductor);
      const r = await ex.leaseTasks({
        hosts: ["conductor-host"],
        conductorGroup: "default",
        waitSeconds: 5,
      });
      const t = r.tasks[0];
      assert.ok(t, `no task for the conductor group (wanted ${TaskKind[kind]})`);
      assert.equal(TaskKind[t.kind], TaskKind[kind]);
      return t;
    };
    const report = (t: Task, r: Record<string, unknown>) =>
      server()
        .client(ExecutorService, conductor)
        .reportTask({ taskUuid: t.uuid, leaseToken: t.leaseToken, ...r });
    const inventoryOf = async (uuid: string) =>
      (await server().client(ResourceService).getInventories({ provider: uuid })).inventories;

    test("setup: a region, an image, a conductor's executor account and host", async () => {
      const s = server();
      await s.meta().createRegion({ name: "lab" });
      await s.client(ResourceService).createProvider({ name: "conductor-host", region: "lab" });
      await s.client(ImageService).registerImage({
        name: "os",
        source: { case: "disk", value: { source: "/srv/os.raw", format: 2, sha256: SHA } },
        bootMarker: "MULLIGAN-OS-READY",
      });
      conductor = await s.tokenFor({ role: "executor", project: null, kind: "executor" });
    });

    test("enroll refuses bad input with a reason and the field", async () => {
      const cases: [string, ReturnType<typeof enrollReq>, string, string][] = [
        ["bad MAC", enrollReq({ bootMacs: ["52:54:00:zz:34:56"] }), "MAC_INVALID", "boot_macs[0]"],
        ["no MAC", enrollReq({ bootMacs: [] }), "FIELD_REQUIRED", "boot_macs"],
        [
          "no driver",
          enrollReq({}, { driver: BmcDriver.UNSPECIFIED }),
          "FIELD_REQUIRED",
          "bmc.driver",
        ],
        ["unknown driver", enrollReq({}, { driver: 9 as BmcDriver }), "ENUM_UNKNOWN", "bmc.driver"],
        ["no address", enrollReq({}, { address: "" }), "FIELD_REQUIRED", "bmc.address"],
        ["bad address", enrollReq({}, { address: "bmc one" }), "ADDRESS_INVALID", "bmc.address"],
        ["bad port", enrollReq({}, { port: 70000 }), "PORT_INVALID", "bmc.port"],
        ["no password", enrollReq({}, { password: "" }), "FIELD_REQUIRED", "bmc.password"],
        [
          "bad scheme",
          enrollReq({}, { driver: BmcDriver.REDFISH, scheme: "ftp" }),
          "SCHEME_INVALID",
          "bmc.scheme",
        ],
        ["bad flavor", enrollReq({ flavor: "big-one" }), "FLAVOR_INVALID", "flavor"],
        ["no name", enrollReq({ name: "" }), "FIELD_REQUIRED", "name"],
      ];
      for (const [what, req, reason, field] of cases) {
        const err = await expectGrpcError(
          nodes().enrollNode(req),
          Code.InvalidArgument,
          reason,
          field,
        );
        assert.ok(!err.message.includes(PASSWORD), `${what}: the password is in the error`);
      }
      await expectGrpcError(
        nodes().enrollNode(enrollReq({ region: "nowhere" })),
        Code.NotFound,
        "REGION_NOT_FOUND",
      );
    });

    test("enroll → VERIFYING; the password is write-only and sealed at rest; verified → MANAGEABLE", async () => {
      const s = server();
      const first = (await nodes().enrollNode({ ...enrollReq(), requestId: "enroll-1" })).node;
      assert.ok(first);
      assert.equal(first.state, NodeState.VERIFYING);
      assert.equal(first.targetState, NodeState.MANAGEABLE);
      assert.equal(first.resourceClass, "CUSTOM_BAREMETAL_SMALL");
      assert.equal(first.providerUuid, first.uuid);
      assert.equal(first.bmc?.password, "");
      assert.equal(first.bmc?.cipherSuite, 3);
      const again = (await nodes().enrollNode({ ...enrollReq(), requestId: "enroll-1" })).node;
      assert.equal(again?.uuid, first.uuid, "the same request_id gives the same node");
      await expectGrpcError(
        nodes().enrollNode(enrollReq()),
        Code.AlreadyExists,
        "NODE_ALREADY_EXISTS",
      );
      // The provider exists (empty until inspection) in the node's region.
      const provider = (await s.client(ResourceService).getProvider({ provider: first.uuid }))
        .provider;
      assert.equal(provider?.name, "bm-1");

      const t = await lease(TaskKind.VERIFY_NODE);
      assert.equal(t.node?.nodeUuid, first.uuid);
      assert.equal(t.node?.bmc?.password, PASSWORD, "the conductor receives the password");
      assert.deepEqual(t.node?.bootMacs, ["52:54:00:12:34:56"]);
      await report(t, { step: "verify", message: "BMC answered", powerState: PowerState.OFF });
      await report(t, { result: { case: "done", value: true } });
      const n = await node("bm-1");
      assert.equal(n?.state, NodeState.MANAGEABLE);
      assert.equal(n?.powerState, PowerState.OFF);

      const listed = (await nodes().listNodes({})).nodes;
      assert.ok(listed.every((x) => x.bmc?.password === ""));
      const store = await openStore(s.storeUrl);
      try {
        const row = await store.db
          .selectFrom("control_nodes")
          .selectAll()
          .where("uuid", "=", first.uuid)
          .executeTakeFirstOrThrow();
        assert.ok(!JSON.stringify(row).includes(PASSWORD), "the password is stored in clear");
        assert.match(row.bmc_secret, /^v1:/);
      } finally {
        await store.close();
      }
    });

    test("a refused step names the state; inspect records the hardware; clean makes it AVAILABLE with one unit", async () => {
      await expectGrpcError(
        nodes().enrollNode(enrollReq({ name: "bm-1" })),
        Code.AlreadyExists,
        "NODE_ALREADY_EXISTS",
      );
      const inspecting = (await nodes().inspectNode({ node: "bm-1", requestId: "inspect-1" })).node;
      assert.equal(inspecting?.state, NodeState.INSPECTING);
      await expectGrpcError(
        nodes().cleanNode({ node: "bm-1" }),
        Code.FailedPrecondition,
        "NODE_STATE_INVALID",
      );
      await expectGrpcError(
        nodes().deleteNode({ node: "bm-1" }),
        Code.FailedPrecondition,
        "NODE_BUSY",
      );
      const t = await lease(TaskKind.INSPECT_NODE);
      const found = {
        cpus: 2,
        memoryMb: 1024n,
        disks: [{ name: "vda", sizeBytes: 4n << 30n }],
        nics: [{ mac: "52:54:00:12:34:56" }],
        capabilities: ["HW_CPU_X86_SSE2", "COMPUTE_ARCH_X86_64", "HW_CPU_X86_SSE2"],
      };
      await expectGrpcError(
        report(t, { inventory: { ...found, capabilities: ["sse2"] } }),
        Code.InvalidArgument,
        "CAPABILITY_INVALID",
        "inventory.capabilities[0]",
      );
      await report(t, { result: { case: "done", value: true }, inventory: found });
      const n = await node("bm-1");
      assert.equal(n?.state, NodeState.MANAGEABLE);
      assert.equal(n?.inventory?.cpus, 2);
      assert.equal(n?.inventory?.memoryMb, 1024n);
      assert.equal(n?.inventory?.disks[0]?.name, "vda");
      assert.deepEqual(n?.inventory?.capabilities, ["COMPUTE_ARCH_X86_64", "HW_CPU_X86_SSE2"]);
      const held = await waitFor(
        "inventory reserved while MANAGEABLE",
        () => inventoryOf(n?.uuid ?? ""),
        (i) => i.length === 1,
      );
      assert.equal(held[0]?.resourceClass, "CUSTOM_BAREMETAL_SMALL");
      assert.equal(held[0]?.reserved, 1n, "a MANAGEABLE node is not handed out");

      await nodes().cleanNode({ node: "bm-1" });
      const c = await lease(TaskKind.CLEAN_NODE);
      await report(c, { step: "erase", message: "erasing vda" });
      assert.equal((await node("bm-1"))?.message, "erasing vda");
      await report(c, { result: { case: "done", value: true } });
      assert.equal((await node("bm-1"))?.state, NodeState.AVAILABLE);
      const inv = await inventoryOf(n?.uuid ?? "");
      assert.equal(inv[0]?.reserved, 0n);
      const p = (
        await server()
          .client(ResourceService)
          .getProvider({ provider: n?.uuid ?? "" })
      ).provider;
      // What inspection found and what the operator said, together.
      assert.deepEqual(p?.capabilities, ["COMPUTE_ARCH_X86_64", "CUSTOM_RAID", "HW_CPU_X86_SSE2"]);
    });

    test("Provision BAREMETAL claims the node → DEPLOY_NODE → ACTIVE; in use; Decommission → cleaned → AVAILABLE", async () => {
      const s = server();
      const machines = s.client(MachineService);
      const m = (await machines.provision({ requestId: "bm-prov-1", spec: bareMetal("metal-1") }))
        .machine;
      assert.ok(m);
      const t = await lease(TaskKind.DEPLOY_NODE);
      const n = await node("bm-1");
      assert.equal(n?.state, NodeState.DEPLOYING);
      assert.equal(n?.machineUuid, m.uuid);
      assert.equal(t.machineUuid, m.uuid);
      assert.equal(t.node?.image?.name, "os");
      assert.equal(t.node?.hostname, "metal-1");
      const prov = (await machines.getMachine({ machine: m.uuid })).machine;
      assert.equal(prov?.state, MachineState.PROVISIONING);
      assert.equal(prov?.hostUuid, n?.uuid, "the machine's host is the node");
      assert.deepEqual(Object.keys(prov?.allocations[0]?.resources ?? {}), [
        "CUSTOM_BAREMETAL_SMALL",
      ]);
      await expectGrpcError(
        nodes().deleteNode({ node: "bm-1" }),
        Code.FailedPrecondition,
        "NODE_IN_USE",
      );
      // The only node is taken: a second machine finds no capacity.
      const second = (await machines.provision({ spec: bareMetal("metal-2") })).machine;
      assert.equal(second?.state, MachineState.ERROR);
      assert.equal(second?.reason, "NO_CAPACITY");

      await report(t, { step: "write-image", message: "writing os" });
      await report(t, { result: { case: "done", value: true } });
      assert.equal(
        (await machines.getMachine({ machine: m.uuid })).machine?.state,
        MachineState.ACTIVE,
      );
      assert.equal((await node("bm-1"))?.state, NodeState.ACTIVE);

      await machines.decommission({ machine: m.uuid });
      const u = await lease(TaskKind.UNDEPLOY_NODE);
      assert.equal((await node("bm-1"))?.state, NodeState.CLEANING);
      await report(u, { result: { case: "done", value: true } });
      assert.equal(
        (await machines.getMachine({ machine: m.uuid })).machine?.state,
        MachineState.DELETED,
      );
      const after = await node("bm-1");
      assert.equal(after?.state, NodeState.AVAILABLE);
      assert.equal(after?.machineUuid, "");
      await assertNothingHeld(s, m.uuid);
    });

    test("a failed deploy releases the claim and withholds the node until it is cleaned", async () => {
      const s = server();
      const machines = s.client(MachineService);
      const m = (await machines.provision({ spec: bareMetal("metal-3") })).machine;
      const t = await lease(TaskKind.DEPLOY_NODE);
      await report(t, {
        result: {
          case: "failure",
          value: {
            step: "write-image",
            reason: "IMAGE_CHECKSUM_MISMATCH",
            message: "sha256 differs on disk",
            hostFault: false,
          },
        },
      });
      const failed = (await machines.getMachine({ machine: m?.uuid ?? "" })).machine;
      assert.equal(failed?.state, MachineState.ERROR);
      assert.equal(failed?.reason, "IMAGE_CHECKSUM_MISMATCH");
      await assertNothingHeld(s, m?.uuid ?? "");
      const n = await node("bm-1");
      assert.equal(n?.state, NodeState.DEPLOY_FAILED);
      assert.equal(n?.lastError?.reason, "IMAGE_CHECKSUM_MISMATCH");
      assert.equal(n?.machineUuid, "");
      const blocked = (await machines.provision({ spec: bareMetal("metal-4") })).machine;
      assert.equal(blocked?.reason, "NO_CAPACITY", "a node whose deploy failed is not handed out");
      await nodes().cleanNode({ node: "bm-1" });
      await report(await lease(TaskKind.CLEAN_NODE), { result: { case: "done", value: true } });
      assert.equal((await node("bm-1"))?.state, NodeState.AVAILABLE);
      assert.equal((await inventoryOf(n?.uuid ?? ""))[0]?.reserved, 0n);
    });

    test("maintenance needs a reason, blocks steps and new machines, and ends", async () => {
      await expectGrpcError(
        nodes().setMaintenance({ node: "bm-1", maintenance: true }),
        Code.InvalidArgument,
        "FIELD_REQUIRED",
        "reason",
      );
      const on = (
        await nodes().setMaintenance({ node: "bm-1", maintenance: true, reason: "fan swap" })
      ).node;
      assert.equal(on?.maintenance, true);
      assert.equal(on?.maintenanceReason, "fan swap");
      await expectGrpcError(
        nodes().cleanNode({ node: "bm-1" }),
        Code.FailedPrecondition,
        "NODE_IN_MAINTENANCE",
      );
      const m = (
        await server()
          .client(MachineService)
          .provision({ spec: bareMetal("metal-5") })
      ).machine;
      assert.equal(m?.reason, "NO_CAPACITY");
      const off = (await nodes().setMaintenance({ node: "bm-1", maintenance: false })).node;
      assert.equal(off?.maintenance, false);
      assert.equal((await inventoryOf(off?.uuid ?? ""))[0]?.reserved, 0n);
    });

    test("a failed verify records the reason; deleting an idle node removes its provider", async () => {
      const n = (
        await nodes().enrollNode(enrollReq({ name: "bm-bad", bootMacs: ["52:54:00:00:00:02"] }))
      ).node;
      const t = await lease(TaskKind.VERIFY_NODE);
      await report(t, {
        result: {
          case: "failure",
          value: {
            step: "verify",
            reason: "AUTH_FAILED",
            message: "the BMC refused the credentials",
            hostFault: true,
          },
        },
      });
      const failed = await node("bm-bad");
      assert.equal(failed?.state, NodeState.VERIFY_FAILED);
      assert.equal(failed?.failedState, NodeState.VERIFY_FAILED);
      assert.deepEqual(
        { step: failed?.lastError?.step, reason: failed?.lastError?.reason },
        { step: "verify", reason: "AUTH_FAILED" },
      );
      await nodes().deleteNode({ node: "bm-bad" });
      await expectGrpcError(nodes().getNode({ node: "bm-bad" }), Code.NotFound, "NODE_NOT_FOUND");
      await expectGrpcError(
        server()
          .client(ResourceService)
          .getProvider({ provider: n?.uuid ?? "" }),
        Code.NotFound,
        "PROVIDER_NOT_FOUND",
      );
    });

    test("fleet roles only: operators enroll, readers read, project roles see nothing", async () => {
      const s = server();
      const operator = await s.tokenFor({ role: "operator", project: null });
      const reader = await s.tokenFor({ role: "reader", project: null });
      const member = await s.tokenFor({ role: "member" });
      const projectReader = await s.tokenFor({ role: "reader" });
      const op = (
        await nodes(operator).enrollNode(
          enrollReq({ name: "bm-op", bootMacs: ["52:54:00:00:00:03"] }),
        )
      ).node;
      assert.equal(op?.state, NodeState.VERIFYING);
      assert.ok((await nodes(reader).listNodes({})).nodes.length >= 2);
      await expectGrpcError(
        nodes(reader).enrollNode(enrollReq({ name: "bm-r" })),
        Code.PermissionDenied,
        "ROLE_REQUIRED",
      );
      await expectGrpcError(
        nodes(reader).setMaintenance({ node: "bm-1", maintenance: true, reason: "x" }),
        Code.PermissionDenied,
        "ROLE_REQUIRED",
      );
      await expectGrpcError(
        nodes(member).enrollNode(enrollReq({ name: "bm-m" })),
        Code.PermissionDenied,
        "ROLE_REQUIRED",
      );
      await expectGrpcError(
        nodes(projectReader).getNode({ node: "bm-1" }),
        Code.PermissionDenied,
        "FLEET_ROLE_REQUIRED",
      );
      await expectGrpcError(
        nodes(member).listNodes({}),
        Code.PermissionDenied,
        "FLEET_ROLE_REQUIRED",
      );
      await expectGrpcError(
        nodes(conductor).getNode({ node: "bm-1" }),
        Code.PermissionDenied,
        "ROLE_REQUIRED",
      );
    });

    test("the BMC password never reached a log line", () => {
      assert.ok(logLines.length > 0, "the server logged nothing");
      assert.ok(!logLines.some((l) => l.includes(PASSWORD)), "a log line holds the BMC password");
    });
  },
  { logger },
);

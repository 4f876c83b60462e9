/**
 * Bare metal end to end, every part real: a simulated node (a TCG QEMU guest netbooting through
 * QEMU's iPXE ROM) behind ipmi_sim or the Redfish emulator, the executor acting as its conductor (createBmcDriver →
 * ipmitool lanplus or Redfish over HTTP, the boot server, the busybox deploy agent), and the control plane over gRPC:
 * enroll → verify → inspect (the inventory is the guest's) → clean → AVAILABLE → Provision
 * BAREMETAL → the image is written and verified on the node's disk, the node boots it from disk
 * → ACTIVE → Decommission → cleaned → AVAILABLE, nothing held. A wrong BMC password ends
 * VERIFY_FAILED with AUTH_FAILED. Needs the agent and the test OS (scripts/build-deploy-agent.sh,
 * scripts/build-deploy-image.sh) and Debian's qemu-system-x86, ipxe-qemu, openipmi, ipmitool.
 * One suite per BMC protocol (baremetal-e2e.test.ts, baremetal-redfish-e2e.test.ts).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import pino from "pino";
import { QemuDriver } from "../src/executor/drivers/qemu/qemu-driver.js";
import { Executor } from "../src/executor/executor.js";
import {
  MachineKind,
  MachineService,
  MachineState,
} from "../src/gen/mulligan/control/v1/control_pb.js";
import { BmcDriver, NodeService, NodeState } from "../src/gen/mulligan/control/v1/node_pb.js";
import { AccountKind, IdentityService, Role } from "../src/gen/mulligan/iam/v1/iam_pb.js";
import { type SimNode, startSimNode } from "../src/sim/fleet.js";
import {
  AGENT_DIR,
  registerDeployImage,
  requireBareMetal,
  untilNode as untilNodeOf,
} from "./baremetal-helpers.js";
import {
  assertNothingHeld,
  closedPort,
  type FreshStore,
  freshStore,
  startTestServer,
  type TestServer,
} from "./harness.js";

const PASSWORD = "e2e-Bmc-Secret";
const logger = pino({ level: process.env.MULLIGAN_TEST_LOG ?? "silent" });

/** The whole flow against one simulated node behind a `bmc` BMC. */
export function bareMetalSuite(bmcKind: "ipmi" | "redfish"): void {
  describe(`bare metal end to end (${bmcKind} BMC, iPXE, deploy agent, real QEMU) [sqlite]`, () => {
    let store: FreshStore | undefined;
    let server: TestServer | undefined;
    let executor: Executor | undefined;
    let driver: QemuDriver | undefined;
    let sim: SimNode | undefined;
    const dirs: string[] = [];

    const nodes = () => (server as TestServer).client(NodeService);
    /** The enrollment's BMC part for the simulated node, with `password`. */
    const bmcOf = (password: string) => {
      const e = (sim as SimNode).bmcEndpoint;
      return {
        driver: e.driver === "redfish" ? BmcDriver.REDFISH : BmcDriver.IPMI,
        address: e.address,
        port: e.port,
        username: e.username,
        password,
        scheme: e.scheme ?? "",
        skipTlsVerify: e.verifyTls === false,
      };
    };
    const untilNode = (ref: string, want: NodeState, ms: number) =>
      untilNodeOf(server as TestServer, ref, want, ms);

    before(async () => {
      await requireBareMetal();
      store = await freshStore("sqlite");
      server = await startTestServer(store.url);
      const s = server;
      await s.meta().createRegion({ name: "lab" });
      const iam = s.client(IdentityService);
      const created = await iam.createAccount({ name: "conductor", kind: AccountKind.EXECUTOR });
      await iam.grantRole({ account: "conductor", project: "", role: Role.EXECUTOR });
      const work = mkdtempSync(join(tmpdir(), "mulligan-bm-e2e-"));
      dirs.push(work);
      const port = await closedPort();
      sim = await startSimNode({
        name: "bm-1",
        bmc: bmcKind,
        username: "admin",
        password: PASSWORD,
        bootUrl: `http://10.0.2.2:${port}/boot/ipxe?mac=\${net0/mac}`,
        diskGb: 1,
        memoryMb: 512,
        vcpus: 1,
        workDir: join(work, "nodes"),
      });
      driver = await QemuDriver.create({ stateDir: join(work, "guests"), accel: "tcg", logger });
      executor = await Executor.start({
        server: s.url,
        account: "conductor",
        secret: created.secret,
        hostName: "conductor-1",
        region: "lab",
        stateDir: join(work, "executor"),
        driver,
        logger,
        conductor: {
          group: "default",
          boot: { host: "127.0.0.1", port, advertiseHost: "10.0.2.2", agentDir: AGENT_DIR },
          serialLogDir: join(work, "nodes"),
          timeouts: { agentBootMs: 240_000, commandMs: 240_000, osBootMs: 180_000 },
        },
      });
    });

    after(async () => {
      await executor?.stop().catch(() => {});
      await driver?.close().catch(() => {});
      await sim?.stop().catch(() => {});
      await server?.stop();
      await store?.drop();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });

    test("a wrong BMC password ends VERIFY_FAILED with AUTH_FAILED", async () => {
      await nodes().enrollNode({
        name: "bm-wrong",
        region: "lab",
        bmc: bmcOf("not-the-password"),
        bootMacs: ["52:54:00:aa:bb:cc"],
      });
      const n = await untilNode("bm-wrong", NodeState.VERIFY_FAILED, 120_000).catch(
        async () => (await nodes().getNode({ node: "bm-wrong" })).node,
      );
      assert.equal(n?.state, NodeState.VERIFY_FAILED);
      assert.equal(n?.lastError?.reason, "AUTH_FAILED", n?.lastError?.message);
      assert.ok(!JSON.stringify(n?.lastError).includes("not-the-password"));
      await nodes().deleteNode({ node: "bm-wrong" });
    });

    test("enroll → verify → inspect → clean → AVAILABLE → deploy → ACTIVE → decommission → AVAILABLE", async () => {
      const s = server as TestServer;
      const node = sim as SimNode;
      const started = Date.now();
      const lap = (what: string) => logger.info({ s: (Date.now() - started) / 1000 }, what);
      await nodes().enrollNode({
        name: "bm-1",
        region: "lab",
        bmc: bmcOf(PASSWORD),
        bootMacs: node.macs,
        flavor: "tiny",
      });
      await untilNode("bm-1", NodeState.MANAGEABLE, 120_000);
      lap("verified");

      await nodes().inspectNode({ node: "bm-1" });
      const inspected = await untilNode("bm-1", NodeState.MANAGEABLE, 400_000);
      lap("inspected");
      const inv = inspected.inventory;
      assert.equal(inv?.cpus, 1, "the guest's CPUs");
      const mem = Number(inv?.memoryMb ?? 0);
      assert.ok(mem > 256 && mem <= 512, `the guest's memory (512 MiB less the kernel's): ${mem}`);
      assert.ok(
        inv?.disks.some((d) => d.sizeBytes === 1n << 30n),
        `a 1 GiB disk in ${JSON.stringify(inv?.disks.map((d) => [d.name, Number(d.sizeBytes)]))}`,
      );
      assert.ok(
        inv?.nics.some((n) => node.macs.includes(n.mac)),
        "the boot NIC",
      );

      await nodes().cleanNode({ node: "bm-1" });
      await untilNode("bm-1", NodeState.AVAILABLE, 400_000);
      lap("cleaned");

      await registerDeployImage(s, "deploy-os");
      const machines = s.client(MachineService);
      const m = (
        await machines.provision({
          spec: {
            name: "metal-1",
            image: "deploy-os",
            kind: MachineKind.BAREMETAL,
            groups: [{ resources: { CUSTOM_BAREMETAL_TINY: 1n } }],
          },
        })
      ).machine;
      assert.ok(m);
      const end = Date.now() + 600_000;
      let got = m;
      while (got.state !== MachineState.ACTIVE) {
        if (got.state === MachineState.ERROR || Date.now() > end)
          assert.fail(`machine ${MachineState[got.state]}: ${got.reason} ${got.message}`);
        await new Promise((r) => setTimeout(r, 1000));
        got = (await machines.getMachine({ machine: m.uuid })).machine ?? got;
      }
      lap("deployed");
      assert.equal(got.hostName, "bm-1");
      const active = (await nodes().getNode({ node: "bm-1" })).node;
      assert.equal(active?.state, NodeState.ACTIVE);
      assert.equal(active?.machineUuid, m.uuid);
      const serial = readFileSync(node.serialLogPath, "utf8");
      assert.match(serial, /mulligan-deployed-os booted/, "the OS booted from the node's disk");

      await machines.decommission({ machine: m.uuid });
      const back = await untilNode("bm-1", NodeState.AVAILABLE, 400_000);
      lap("decommissioned");
      assert.equal(back.machineUuid, "");
      assert.equal(
        (await machines.getMachine({ machine: m.uuid })).machine?.state,
        MachineState.DELETED,
      );
      await assertNothingHeld(s, m.uuid);
    });
  });
}

/**
 * Bare-metal faults with every part real (one simulated node: a TCG QEMU guest behind ipmi_sim,
 * the executor as its conductor, the iPXE boot server and the busybox deploy agent):
 * - a frozen BMC (SIGSTOP of ipmi_sim): verify fails after bounded retries with BMC_UNREACHABLE
 *   or BMC_TIMEOUT into VERIFY_FAILED; after SIGCONT the step run again (inspection, which
 *   verifies first) succeeds;
 * - a deploy agent that never calls back (the conductor now serves the boot on another port, so
 *   the node's iPXE finds nothing): the deploy times out with AGENT_TIMEOUT, the machine ends
 *   ERROR with nothing held, the node is DEPLOY_FAILED and not handed out again until cleaned;
 * - the conductor (a `mulligan executor` child) SIGKILLed while writing the image: started again,
 *   the redelivered deploy fails CONDUCTOR_RESTARTED, the BMC reads the node off, nothing held;
 * - the image's bytes changed after the conductor hashed them (before the agent fetches them):
 *   the agent's read-back check fails IMAGE_CHECKSUM_MISMATCH.
 * The tests run in order on the same node. Needs what baremetal-suite.ts needs.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import {
  closeSync,
  copyFileSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import pino from "pino";
import type { ConductorTimeouts } from "../src/executor/conductor-steps.js";
import { createBmcDriver } from "../src/executor/drivers/bmc-factory.js";
import { QemuDriver } from "../src/executor/drivers/qemu/qemu-driver.js";
import { Executor } from "../src/executor/executor.js";
import {
  type Machine,
  MachineKind,
  MachineService,
  MachineState,
} from "../src/gen/mulligan/control/v1/control_pb.js";
import {
  BmcDriver,
  NodeService,
  NodeState,
  PowerState,
} from "../src/gen/mulligan/control/v1/node_pb.js";
import { AccountKind, IdentityService, Role } from "../src/gen/mulligan/iam/v1/iam_pb.js";
import { type SimNode, startSimNode } from "../src/sim/fleet.js";
import {
  AGENT_DIR,
  IMAGE_DIR,
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
import { killChild, spawnMulligan } from "./machine-helpers.js";

const PASSWORD = "faults-Bmc-Secret";
const LONG: ConductorTimeouts = { agentBootMs: 240_000, commandMs: 240_000, osBootMs: 180_000 };
const logger = pino({ level: process.env.MULLIGAN_TEST_LOG ?? "silent" });

describe("bare-metal faults (ipmi BMC, iPXE, deploy agent, real QEMU) [sqlite]", () => {
  let store: FreshStore | undefined;
  let server: TestServer | undefined;
  let executor: Executor | undefined;
  let driver: QemuDriver | undefined;
  let sim: SimNode | undefined;
  let secret = "";
  let bootPort = 0;
  let work = "";
  let child: ChildProcess | undefined;

  const nodes = () => (server as TestServer).client(NodeService);
  const machines = () => (server as TestServer).client(MachineService);
  const untilNode = (want: NodeState, ms: number, orFailed = false) =>
    untilNodeOf(server as TestServer, "bm-f", want, ms, orFailed);
  const untilMachine = async (uuid: string, want: MachineState, ms: number): Promise<Machine> => {
    const end = Date.now() + ms;
    for (;;) {
      const m = (await machines().getMachine({ machine: uuid })).machine;
      if (m?.state === want) return m;
      if (Date.now() > end || (m?.state === MachineState.ACTIVE && want !== m.state))
        assert.fail(`machine ${MachineState[m?.state ?? 0]}: ${m?.reason} ${m?.message}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  };
  /** (Re)starts the conductor, its boot server on `port` with `timeouts`. */
  const startConductor = async (port: number, timeouts: ConductorTimeouts) => {
    await executor?.stop();
    executor = await Executor.start({
      server: (server as TestServer).url,
      account: "conductor",
      secret,
      hostName: "conductor-1",
      region: "lab",
      stateDir: join(work, "executor"),
      driver: driver as QemuDriver,
      logger,
      conductor: {
        group: "default",
        boot: { host: "127.0.0.1", port, advertiseHost: "10.0.2.2", agentDir: AGENT_DIR },
        serialLogDir: join(work, "nodes"),
        timeouts,
        bmcTimeoutMs: 5_000,
        bmcRetries: 1,
      },
    });
  };
  const provisionTiny = async (name: string) =>
    (
      await machines().provision({
        spec: {
          name,
          image: "deploy-os",
          kind: MachineKind.BAREMETAL,
          groups: [{ resources: { CUSTOM_BAREMETAL_TINY: 1n } }],
        },
      })
    ).machine as Machine;

  before(async () => {
    await requireBareMetal();
    store = await freshStore("sqlite");
    // Short task leases: a killed conductor's deploy is delivered again within seconds.
    server = await startTestServer(store.url, undefined, {
      configure: (c) => {
        c.control = { leaseMs: 3000, maxAttempts: 1 };
      },
    });
    await server.meta().createRegion({ name: "lab" });
    const iam = server.client(IdentityService);
    secret = (await iam.createAccount({ name: "conductor", kind: AccountKind.EXECUTOR })).secret;
    await iam.grantRole({ account: "conductor", project: "", role: Role.EXECUTOR });
    work = mkdtempSync(join(tmpdir(), "mulligan-bm-faults-"));
    bootPort = await closedPort();
    sim = await startSimNode({
      name: "bm-f",
      bmc: "ipmi",
      username: "admin",
      password: PASSWORD,
      bootUrl: `http://10.0.2.2:${bootPort}/boot/ipxe?mac=\${net0/mac}`,
      diskGb: 1,
      memoryMb: 512,
      vcpus: 1,
      workDir: join(work, "nodes"),
    });
    driver = await QemuDriver.create({ stateDir: join(work, "guests"), accel: "tcg", logger });
    await startConductor(bootPort, LONG);
  });

  after(async () => {
    sim?.thawBmc();
    if (child) await killChild(child, "SIGKILL").catch(() => {});
    await executor?.stop().catch(() => {});
    await driver?.close().catch(() => {});
    await sim?.stop().catch(() => {});
    await server?.stop();
    await store?.drop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("a frozen BMC fails verify with a BMC reason; after SIGCONT the step run again succeeds", async () => {
    const e = (sim as SimNode).bmcEndpoint;
    (sim as SimNode).freezeBmc();
    await nodes().enrollNode({
      name: "bm-f",
      region: "lab",
      bmc: {
        driver: BmcDriver.IPMI,
        address: e.address,
        port: e.port,
        username: e.username,
        password: PASSWORD,
      },
      bootMacs: (sim as SimNode).macs,
      flavor: "tiny",
    });
    const failed = await untilNode(NodeState.VERIFY_FAILED, 180_000, true);
    assert.equal(failed.lastError?.step, "verify");
    assert.ok(
      ["BMC_UNREACHABLE", "BMC_TIMEOUT"].includes(failed.lastError?.reason ?? ""),
      `reason ${failed.lastError?.reason}: ${failed.lastError?.message}`,
    );
    (sim as SimNode).thawBmc();
    await nodes().inspectNode({ node: "bm-f" });
    const inspected = await untilNode(NodeState.MANAGEABLE, 400_000);
    assert.equal(inspected.inventory?.cpus, 1, "the guest's CPUs, read by the agent");
    await nodes().cleanNode({ node: "bm-f" });
    await untilNode(NodeState.AVAILABLE, 400_000);
  });

  test("an agent that never calls back: AGENT_TIMEOUT, DEPLOY_FAILED, nothing held, not handed out until cleaned", async () => {
    const s = server as TestServer;
    await registerDeployImage(s, "deploy-os");
    // The node keeps netbooting from bootPort; the conductor now serves another port: mute agent.
    await startConductor(await closedPort(), { ...LONG, agentBootMs: 20_000 });
    const m = await provisionTiny("metal-mute");
    const failed = await untilMachine(m.uuid, MachineState.ERROR, 600_000);
    assert.equal(failed.reason, "AGENT_TIMEOUT", failed.message);
    const node = (await nodes().getNode({ node: "bm-f" })).node;
    assert.equal(node?.state, NodeState.DEPLOY_FAILED);
    assert.equal(node?.lastError?.reason, "AGENT_TIMEOUT");
    await assertNothingHeld(s, m.uuid);

    const second = await provisionTiny("metal-second");
    const refused = await untilMachine(second.uuid, MachineState.ERROR, 120_000);
    assert.equal(refused.reason, "NO_CAPACITY", refused.message);
    assert.equal((await nodes().getNode({ node: "bm-f" })).node?.state, NodeState.DEPLOY_FAILED);
    await assertNothingHeld(s, second.uuid);

    await startConductor(bootPort, LONG);
    await nodes().cleanNode({ node: "bm-f" });
    const back = await untilNode(NodeState.AVAILABLE, 400_000);
    assert.equal(back.machineUuid, "");
  });

  test("the conductor SIGKILLed mid-deploy: CONDUCTOR_RESTARTED, node powered off, DEPLOY_FAILED, nothing held", async () => {
    const s = server as TestServer;
    await executor?.stop();
    executor = undefined;
    const secretFile = join(work, "secret");
    writeFileSync(secretFile, secret, { mode: 0o600 });
    /** `mulligan executor --conductor-group default`, as an operator runs it. */
    const spawnConductor = () =>
      spawnMulligan([
        "--server",
        s.url,
        "executor",
        "--account",
        "conductor",
        "--secret-file",
        secretFile,
        "--host-name",
        "conductor-1",
        "--region",
        "lab",
        "--state-dir",
        join(work, "executor"),
        "--accel",
        "tcg",
        "--conductor-group",
        "default",
        "--boot-listen",
        `127.0.0.1:${bootPort}`,
        "--boot-advertise",
        "10.0.2.2",
        "--serial-log-dir",
        join(work, "nodes"),
        "--agent-timeout",
        "240",
      ]);
    child = spawnConductor();
    const m = await provisionTiny("metal-killed");
    const end = Date.now() + 600_000;
    for (;;) {
      const n = (await nodes().getNode({ node: "bm-f" })).node;
      if (n?.state === NodeState.DEPLOYING && /^writing /.test(n.message)) break;
      if (
        Date.now() > end ||
        (n && n.state !== NodeState.DEPLOYING && n.state !== NodeState.AVAILABLE)
      )
        assert.fail(`node ${NodeState[n?.state ?? 0]} (${n?.message}) never wrote the image`);
      await new Promise((r) => setTimeout(r, 250));
    }
    await killChild(child, "SIGKILL");
    child = spawnConductor();

    const failed = await untilMachine(m.uuid, MachineState.ERROR, 300_000);
    assert.equal(failed.reason, "CONDUCTOR_RESTARTED", failed.message);
    const node = (await nodes().getNode({ node: "bm-f" })).node;
    assert.equal(node?.state, NodeState.DEPLOY_FAILED);
    assert.equal(node?.lastError?.reason, "CONDUCTOR_RESTARTED");
    const bmc = createBmcDriver((sim as SimNode).bmcEndpoint);
    try {
      assert.equal(await bmc.powerState(), "off", "the BMC reads the node powered off");
    } finally {
      await bmc.close();
    }
    await assertNothingHeld(s, m.uuid);
  });

  test("bytes changed after the conductor hashed them: the agent's on-disk check fails IMAGE_CHECKSUM_MISMATCH", async () => {
    const s = server as TestServer;
    // The conductor from the previous test cleans the node back to AVAILABLE first.
    await nodes().cleanNode({ node: "bm-f" });
    await untilNode(NodeState.AVAILABLE, 400_000);
    const copy = join(work, "disk-copy.raw");
    copyFileSync(join(IMAGE_DIR, "disk.raw"), copy);
    await registerDeployImage(s, "deploy-os-copy", copy);
    const m = (
      await machines().provision({
        spec: {
          name: "metal-corrupt",
          image: "deploy-os-copy",
          kind: MachineKind.BAREMETAL,
          groups: [{ resources: { CUSTOM_BAREMETAL_TINY: 1n } }],
        },
      })
    ).machine as Machine;
    // The conductor verified and hashed the image, published it and powers the node on; the
    // agent fetches it only after booting: change the served bytes in that window.
    const end = Date.now() + 300_000;
    for (;;) {
      const n = (await nodes().getNode({ node: "bm-f" })).node;
      if (n?.state === NodeState.DEPLOYING && n.powerState === PowerState.ON) break;
      if (
        Date.now() > end ||
        (n && n.state !== NodeState.DEPLOYING && n.state !== NodeState.AVAILABLE)
      )
        assert.fail(
          `node ${NodeState[n?.state ?? 0]} (${n?.message}) was never powered on to deploy`,
        );
      await new Promise((r) => setTimeout(r, 250));
    }
    const fd = openSync(copy, "r+");
    writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, 0);
    closeSync(fd);

    const failed = await untilMachine(m.uuid, MachineState.ERROR, 400_000);
    assert.equal(failed.reason, "IMAGE_CHECKSUM_MISMATCH", failed.message);
    const node = (await nodes().getNode({ node: "bm-f" })).node;
    assert.equal(node?.state, NodeState.DEPLOY_FAILED);
    assert.equal(node?.lastError?.reason, "IMAGE_CHECKSUM_MISMATCH");
    await assertNothingHeld(s, m.uuid);
  });
});

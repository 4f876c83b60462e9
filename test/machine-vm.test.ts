/**
 * A virtual machine end to end, for real: a Mulligan server, real executors on this machine
 * (src/executor) driving real QEMU guests (TCG) through the QEMU driver, the tiny test image,
 * and gRPC clients. One guest boots at a time in this file. Provision → ACTIVE → the console
 * shows the guest booted with its config drive → Decommission → DELETED, the claim released,
 * the QEMU process and the guest's files gone; a host whose QEMU is missing makes the machine
 * go to the other host; a wrong image checksum fails the build with the step and reason.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import pino from "pino";
import { QemuDriver } from "../src/executor/drivers/qemu/qemu-driver.js";
import { Executor } from "../src/executor/executor.js";
import {
  type Image,
  ImageService,
  MachineService,
  MachineState,
} from "../src/gen/mulligan/control/v1/control_pb.js";
import { AccountKind, IdentityService, Role } from "../src/gen/mulligan/iam/v1/iam_pb.js";
import { ResourceService } from "../src/gen/mulligan/resource/v1/resource_pb.js";
import {
  assertNothingHeld,
  type FreshStore,
  freshStore,
  startTestServer,
  type TestServer,
} from "./harness.js";
import { qemuProcesses } from "./machine-helpers.js";
import { type TestImage, testImage, testImageRequest } from "./test-image.js";

const SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHZ0ZXN0a2V5 e2e@test";
const logger = pino({ level: process.env.MULLIGAN_TEST_LOG ?? "silent" });

async function until(s: TestServer, machine: string, states: MachineState[], ms: number) {
  const client = s.client(MachineService);
  const end = Date.now() + ms;
  for (;;) {
    const m = (await client.getMachine({ machine })).machine;
    if (m && states.includes(m.state)) return m;
    if (Date.now() > end)
      assert.fail(
        `machine is ${MachineState[m?.state ?? 0]} (${m?.reason} ${m?.message}), not ${states.map((x) => MachineState[x]).join("|")}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("virtual machines end to end (real QEMU) [sqlite]", () => {
  let store: FreshStore | undefined;
  let server: TestServer | undefined;
  let image: TestImage;
  let tiny: Image | undefined;
  const executors: { executor: Executor; driver: QemuDriver }[] = [];
  const dirs: string[] = [];

  async function startExecutor(hostName: string, secret: string, qemuBinary?: string) {
    const s = server as TestServer;
    const stateDir = mkdtempSync(join(tmpdir(), `mulligan-exec-${hostName}-`));
    dirs.push(stateDir);
    const driver = await QemuDriver.create({
      stateDir: join(stateDir, "guests"),
      accel: "tcg",
      logger,
      ...(qemuBinary ? { qemuBinary } : {}),
    });
    const executor = await Executor.start({
      server: s.url,
      account: "e2e-executor",
      secret,
      hostName,
      region: "lab",
      stateDir,
      driver,
      logger,
      maxBuilds: 1,
      bootTimeoutMs: 90_000,
    });
    executors.push({ executor, driver });
    return { stateDir, executor };
  }

  before(async () => {
    image = testImage();
    store = await freshStore("sqlite");
    server = await startTestServer(store.url, undefined, {
      configure: (c) => {
        c.control = { maxAttempts: 2 };
      },
    });
    const s = server;
    await s.meta().createRegion({ name: "lab" });
    const iam = s.client(IdentityService);
    const created = await iam.createAccount({ name: "e2e-executor", kind: AccountKind.EXECUTOR });
    await iam.grantRole({ account: "e2e-executor", project: "", role: Role.EXECUTOR });
    // Hosts tie on free capacity and are tried in name order: the broken one first.
    await startExecutor("a-broken-host", created.secret, "/nonexistent/qemu-system-x86_64");
    await startExecutor("b-good-host", created.secret);
    tiny = (await s.client(ImageService).registerImage(testImageRequest(image))).image;
  });

  after(async () => {
    for (const { executor, driver } of executors) {
      await executor.stop().catch(() => {});
      for (const g of await driver.list().catch(() => []))
        await driver.destroy(g.uuid).catch(() => {});
      await driver.close().catch(() => {});
    }
    await server?.stop();
    await store?.drop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test("provision → the broken host fails it → rescheduled → ACTIVE, booted; decommission → DELETED, nothing left", async () => {
    const s = server as TestServer;
    const machines = s.client(MachineService);
    const started = Date.now();
    const m = (
      await machines.provision({
        requestId: "e2e-1",
        spec: {
          name: "e2e-vm",
          image: "tiny",
          groups: [{ resources: { VCPU: 1n, MEMORY_MB: 256n, DISK_GB: 1n } }],
          sshKeys: [SSH_KEY],
        },
      })
    ).machine;
    assert.ok(m);
    const steps: string[] = [];
    const watching = (async () => {
      for await (const r of machines.watchMachine({ machine: m.uuid })) {
        steps.push(`${MachineState[r.event?.state ?? 0]}:${r.event?.step}`);
        if (r.machine?.state === MachineState.ACTIVE || r.machine?.state === MachineState.ERROR)
          return;
      }
    })();
    const active = await until(s, m.uuid, [MachineState.ACTIVE, MachineState.ERROR], 120_000);
    await watching;
    assert.equal(active.state, MachineState.ACTIVE, `${active.reason}: ${active.message}`);
    assert.equal(active.hostName, "b-good-host");
    assert.equal(active.attempts.length, 2);
    assert.equal(active.attempts[0]?.hostName, "a-broken-host");
    assert.equal(active.attempts[0]?.reason, "HYPERVISOR_MISSING");
    // The failure is the first attempt's, not the ACTIVE machine's.
    assert.deepEqual([active.failedStep, active.reason], ["", ""]);
    assert.ok(
      steps.includes("PROVISIONING:boot") || steps.some((x) => x.startsWith("PROVISIONING:")),
      steps.join(" "),
    );
    logger.info({ ms: Date.now() - started }, "ACTIVE");

    const console = (await machines.getConsoleLog({ machine: m.uuid })).text;
    assert.match(console, /MULLIGAN_GUEST_READY/);
    assert.match(console, new RegExp(`instance-id=${m.uuid}`));
    assert.match(console, /hostname=e2e-vm/);
    assert.match(console, /ssh-keys=1/);
    assert.equal(qemuProcesses(m.uuid).length, 1, "one QEMU process for the guest");
    const held = await s.client(ResourceService).getAllocations({ consumer: m.uuid });
    assert.deepEqual(
      held.allocations.map((a) => a.providerName),
      ["b-good-host"],
      "one allocation, on the good host: the broken host's claim was released",
    );

    await machines.decommission({ machine: m.uuid });
    await until(s, m.uuid, [MachineState.DELETED], 60_000);
    await assertNothingHeld(s, m.uuid, "claim released");
    for (let i = 0; i < 50 && qemuProcesses(m.uuid).length > 0; i++)
      await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(qemuProcesses(m.uuid), [], "no QEMU process left");
    for (const d of dirs)
      assert.equal(existsSync(join(d, "guests", m.uuid)), false, "the guest's files are gone");
  });

  test("a wrong image checksum fails the build at the image step; the claim is released", async () => {
    const s = server as TestServer;
    await s.client(ImageService).registerImage({
      name: "tampered",
      source: {
        case: "kernel",
        value: {
          kernel: image.kernel,
          kernelSha256: "0".repeat(64),
          initrd: image.initrd,
          initrdSha256: image.initrdSha256,
          cmdline: image.cmdline,
        },
      },
      bootMarker: image.bootMarker,
    });
    const m = (
      await s.client(MachineService).provision({
        spec: {
          name: "tampered-vm",
          image: "tampered",
          groups: [{ resources: { VCPU: 1n, MEMORY_MB: 128n, DISK_GB: 1n } }],
        },
      })
    ).machine;
    assert.ok(m);
    const failed = await until(s, m.uuid, [MachineState.ERROR, MachineState.ACTIVE], 60_000);
    assert.equal(failed.state, MachineState.ERROR);
    assert.equal(failed.failedStep, "image");
    assert.equal(failed.reason, "IMAGE_CHECKSUM_MISMATCH");
    await assertNothingHeld(s, m.uuid, "claim released");
    await s.client(MachineService).decommission({ machine: m.uuid });
    await until(s, m.uuid, [MachineState.DELETED], 10_000);
    assert.ok(tiny);
    await s.client(ImageService).deleteImage({ image: "tampered" });
  });

  test("an image in use cannot be deleted", async () => {
    const s = server as TestServer;
    const m = (
      await s.client(MachineService).provision({
        spec: {
          name: "holder",
          image: "tiny",
          groups: [{ resources: { VCPU: 1n, MEMORY_MB: 128n, DISK_GB: 1n } }],
        },
      })
    ).machine;
    assert.ok(m);
    await assert.rejects(
      s.client(ImageService).deleteImage({ image: "tiny" }),
      (e) => ConnectError.from(e).code === Code.FailedPrecondition,
    );
    await until(s, m.uuid, [MachineState.ACTIVE, MachineState.ERROR], 120_000);
    await s.client(MachineService).decommission({ machine: m.uuid });
    await until(s, m.uuid, [MachineState.DELETED], 60_000);
    await s.client(ImageService).deleteImage({ image: "tiny" });
  });
});

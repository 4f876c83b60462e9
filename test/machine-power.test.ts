/**
 * Guest power observed by executors and recorded on machines. On both stores, through
 * ExecutorService.ReportPowerState: a bad power state is INVALID_ARGUMENT on its field, another
 * executor account (or the wrong host) answers NOT_FOUND, a stale report is ignored, a retry
 * under the same request_id is answered from the record; the lifecycle state never moves. Then
 * for real: a QEMU guest (TCG) killed behind Mulligan's back shows STOPPED on its machine, with
 * a power event in WatchMachine; decommission still ends DELETED with nothing left.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import pino from "pino";
import { QemuDriver } from "../src/executor/drivers/qemu/qemu-driver.js";
import { Executor } from "../src/executor/executor.js";
import {
  ExecutorService,
  GuestPowerState,
  ImageService,
  type MachineEvent,
  MachineService,
  MachineState,
} from "../src/gen/mulligan/control/v1/control_pb.js";
import { AccountKind, IdentityService, Role } from "../src/gen/mulligan/iam/v1/iam_pb.js";
import { ResourceService } from "../src/gen/mulligan/resource/v1/resource_pb.js";
import {
  assertNothingHeld,
  expectGrpcError,
  type FreshStore,
  forEachStore,
  freshStore,
  startTestServer,
  type TestServer,
} from "./harness.js";
import {
  addHost,
  eventually,
  qemuProcesses,
  registerKernelImage,
  untilState,
} from "./machine-helpers.js";
import { type TestImage, testImage, testImageRequest } from "./test-image.js";

const logger = pino({ level: process.env.MULLIGAN_TEST_LOG ?? "silent" });
const ago = (ms: number) => timestampFromDate(new Date(Date.now() - ms));

forEachStore("guest power reported by the host's executor", (server) => {
  test("validated, owner only, stale ignored, idempotent; the lifecycle does not move", async () => {
    const s = server();
    await s.meta().createRegion({ name: "lab" });
    const r = s.client(ResourceService);
    const host = await addHost(s, "power-host");
    await registerKernelImage(s, "img");
    const token = () => s.tokenFor({ role: "executor", project: null, kind: "executor" });
    const owner = s.client(ExecutorService, await token());
    const intruder = s.client(ExecutorService, await token());
    await owner.leaseTasks({ hosts: [host], waitSeconds: 0 });
    const machines = s.client(MachineService);
    const m = (
      await machines.provision({
        spec: {
          name: "power-vm",
          image: "img",
          groups: [{ resources: { VCPU: 1n, MEMORY_MB: 128n, DISK_GB: 1n } }],
        },
      })
    ).machine;
    assert.ok(m);
    const [task] = (await owner.leaseTasks({ hosts: [host], waitSeconds: 10 })).tasks;
    assert.ok(task);
    await owner.reportTask({
      taskUuid: task.uuid,
      leaseToken: task.leaseToken,
      result: { case: "done", value: true },
    });
    await untilState(machines, m.uuid, [MachineState.ACTIVE], 10_000);
    const report = {
      host: host,
      machineUuid: m.uuid,
      powerState: GuestPowerState.STOPPED,
      observedTime: ago(1_000),
    };

    for (const powerState of [GuestPowerState.UNSPECIFIED, 42 as GuestPowerState])
      await expectGrpcError(
        owner.reportPowerState({ ...report, powerState }),
        Code.InvalidArgument,
        "POWER_STATE_INVALID",
        "power_state",
      );
    await expectGrpcError(
      owner.reportPowerState({ ...report, machineUuid: "not-a-uuid" }),
      Code.InvalidArgument,
      "UUID_INVALID",
      "machine_uuid",
    );
    await expectGrpcError(
      intruder.reportPowerState(report),
      Code.NotFound,
      "MACHINE_NOT_FOUND",
      "machine_uuid",
    );
    // The owner of a host reports only the guests of that host.
    const other = (await r.createProvider({ name: "other-host", region: "lab" })).provider;
    assert.ok(other);
    await expectGrpcError(
      owner.reportPowerState({ ...report, host: other.uuid }),
      Code.NotFound,
      "MACHINE_NOT_FOUND",
    );
    assert.equal(
      (await machines.getMachine({ machine: m.uuid })).machine?.powerState,
      GuestPowerState.UNSPECIFIED,
      "refused reports record nothing",
    );

    assert.equal((await owner.reportPowerState({ ...report, requestId: "p-1" })).applied, true);
    // The same request again is answered from the record and appends nothing.
    assert.equal((await owner.reportPowerState({ ...report, requestId: "p-1" })).applied, true);
    await expectGrpcError(
      owner.reportPowerState({ ...report, requestId: "p-1", powerState: GuestPowerState.ABSENT }),
      Code.InvalidArgument,
      "REQUEST_ID_REUSED",
    );
    // Observed before the recorded one: ignored.
    const stale = { ...report, powerState: GuestPowerState.RUNNING, observedTime: ago(60_000) };
    assert.equal((await owner.reportPowerState(stale)).applied, false);

    const got = (await machines.getMachine({ machine: m.uuid })).machine;
    assert.ok(got);
    assert.equal(got.state, MachineState.ACTIVE, "the lifecycle state does not follow");
    assert.equal(GuestPowerState[got.powerState], "STOPPED");
    assert.equal(got.powerStateTime?.seconds, report.observedTime.seconds);
    // The whole history, then the stream waits for news: read it for a moment.
    const events: (MachineEvent | undefined)[] = [];
    await assert.rejects(async () => {
      const signal = AbortSignal.timeout(1_500);
      for await (const e of machines.watchMachine({ machine: m.uuid }, { signal }))
        events.push(e.event);
    });
    const power = events.filter((e) => e?.step === "power");
    assert.equal(power.length, 1, "one power event for one change");
    assert.equal(power[0]?.state, MachineState.ACTIVE);
    assert.match(power[0]?.message ?? "", /stopped — the guest powered off by itself/);
  });
});

describe("a QEMU guest that stops by itself shows on its machine (real QEMU) [sqlite]", () => {
  let store: FreshStore | undefined;
  let server: TestServer | undefined;
  let image: TestImage;
  let executor: Executor | undefined;
  let driver: QemuDriver | undefined;
  let stateDir = "";

  before(async () => {
    image = testImage();
    store = await freshStore("sqlite");
    server = await startTestServer(store.url);
    const s = server;
    await s.meta().createRegion({ name: "lab" });
    const iam = s.client(IdentityService);
    const created = await iam.createAccount({ name: "power-executor", kind: AccountKind.EXECUTOR });
    await iam.grantRole({ account: "power-executor", project: "", role: Role.EXECUTOR });
    stateDir = mkdtempSync(join(tmpdir(), "mulligan-power-"));
    driver = await QemuDriver.create({ stateDir: join(stateDir, "guests"), accel: "tcg", logger });
    executor = await Executor.start({
      server: s.url,
      account: "power-executor",
      secret: created.secret,
      hostName: "power-host",
      region: "lab",
      stateDir,
      driver,
      logger,
      maxBuilds: 1,
      bootTimeoutMs: 90_000,
    });
    await s.client(ImageService).registerImage(testImageRequest(image));
  });

  after(async () => {
    await executor?.stop().catch(() => {});
    for (const g of (await driver?.list().catch(() => [])) ?? [])
      await driver?.destroy(g.uuid).catch(() => {});
    await driver?.close().catch(() => {});
    await server?.stop();
    await store?.drop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  test("ACTIVE and RUNNING → QEMU killed → STOPPED with a power event → decommission → DELETED", async () => {
    const s = server as TestServer;
    const machines = s.client(MachineService);
    const m = (
      await machines.provision({
        requestId: "power-e2e",
        spec: {
          name: "power-vm",
          image: "tiny",
          groups: [{ resources: { VCPU: 1n, MEMORY_MB: 256n, DISK_GB: 1n } }],
        },
      })
    ).machine;
    assert.ok(m);
    const events: string[] = [];
    const watching = (async () => {
      for await (const r of machines.watchMachine({ machine: m.uuid }))
        events.push(`${MachineState[r.event?.state ?? 0]}:${r.event?.step}:${r.event?.message}`);
    })();
    const active = await untilState(
      machines,
      m.uuid,
      [MachineState.ACTIVE, MachineState.ERROR],
      150_000,
    );
    assert.equal(active.state, MachineState.ACTIVE, `${active.reason}: ${active.message}`);
    const power = (want: GuestPowerState) =>
      eventually(
        () => `power is not ${GuestPowerState[want]}`,
        30_000,
        async () => {
          const got = (await machines.getMachine({ machine: m.uuid })).machine;
          return got?.powerState === want ? got : undefined;
        },
      );
    await power(GuestPowerState.RUNNING);

    const [pid] = qemuProcesses(m.uuid);
    assert.ok(pid, "the guest's QEMU runs");
    process.kill(pid, "SIGKILL"); // a crash nobody at Mulligan asked for
    const stopped = await power(GuestPowerState.STOPPED);
    assert.equal(stopped.state, MachineState.ACTIVE, "observed only: the lifecycle stays");
    await eventually(
      () => `no power event in ${events.join(" | ")}`,
      10_000,
      () => events.find((e) => /^ACTIVE:power:power: stopped/.test(e)),
    );

    await machines.decommission({ machine: m.uuid });
    await untilState(machines, m.uuid, [MachineState.DELETED], 60_000);
    await watching;
    await assertNothingHeld(s, m.uuid, "claim released");
    assert.deepEqual(qemuProcesses(m.uuid), [], "no QEMU process left");
    assert.equal(existsSync(join(stateDir, "guests", m.uuid)), false, "the guest's files are gone");
  });
});

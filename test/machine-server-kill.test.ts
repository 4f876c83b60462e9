/**
 * The server dies mid-build: a real `mulligan serve` child process (short leases) is SIGKILLed
 * while its machine is PROVISIONING — QEMU started, the guest still booting — stays down longer
 * than a lease, and starts again on the same store and port. A real executor (in this process)
 * and a real QEMU guest carry on. The machine must end ACTIVE (the executor's lease lapsed, so
 * the task is delivered again and the running guest adopted, not started twice) or ERROR with
 * a reason; no claim is leaked and no QEMU process is orphaned, before and after Decommission.
 * One guest at a time; on both stores.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import pino from "pino";
import { QemuDriver } from "../src/executor/drivers/qemu/qemu-driver.js";
import { Executor } from "../src/executor/executor.js";
import {
  ImageService,
  MachineService,
  MachineState,
} from "../src/gen/mulligan/control/v1/control_pb.js";
import { AccountKind, IdentityService, Role } from "../src/gen/mulligan/iam/v1/iam_pb.js";
import { MetadataService } from "../src/gen/mulligan/meta/v1/meta_pb.js";
import { ResourceService } from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { closedPort, type FreshStore, freshStore, STORE_KINDS } from "./harness.js";
import {
  auditClaims,
  eventually,
  qemuProcesses,
  ServeProcess,
  untilState,
} from "./machine-helpers.js";
import { testImage, testImageRequest } from "./test-image.js";

const logger = pino({ level: process.env.MULLIGAN_TEST_LOG ?? "silent" });
const HOST = "crash-host";
/** The server stays down this long: longer than a lease, so the executor's lease lapses. */
const DOWN_MS = 6_000;

for (const kind of STORE_KINDS) {
  describe(`the server is SIGKILLed mid-build and restarted (real QEMU) [${kind}]`, () => {
    let store: FreshStore | undefined;
    let server: ServeProcess | undefined;
    let driver: QemuDriver | undefined;
    let executor: Executor | undefined;
    const dirs: string[] = [];

    before(async () => {
      const image = testImage();
      store = await freshStore(kind);
      const dataDir = mkdtempSync(join(tmpdir(), "mulligan-serve-"));
      const stateDir = mkdtempSync(join(tmpdir(), "mulligan-exec-"));
      dirs.push(dataDir, stateDir);
      server = new ServeProcess(await closedPort(), [
        "--data-dir",
        dataDir,
        "--database",
        store.url,
        "--control-lease",
        "3s",
        "--control-schedule-hold",
        "3s",
      ]);
      await server.start();
      await server.bootstrap();
      await server.client(MetadataService).createRegion({ name: "lab" });
      const iam = server.client(IdentityService);
      const { secret } = await iam.createAccount({
        name: "crash-exec",
        kind: AccountKind.EXECUTOR,
      });
      await iam.grantRole({ account: "crash-exec", project: "", role: Role.EXECUTOR });
      driver = await QemuDriver.create({
        stateDir: join(stateDir, "guests"),
        accel: "tcg",
        logger,
      });
      executor = await Executor.start({
        server: server.url,
        account: "crash-exec",
        secret,
        hostName: HOST,
        region: "lab",
        stateDir,
        driver,
        logger,
        maxBuilds: 1,
        bootTimeoutMs: 180_000,
      });
      await server.client(ImageService).registerImage(testImageRequest(image));
    });

    after(async () => {
      await executor?.stop().catch(() => {});
      for (const g of (await driver?.list().catch(() => [])) ?? [])
        await driver?.destroy(g.uuid).catch(() => {});
      await driver?.close().catch(() => {});
      await server?.kill("SIGKILL");
      await store?.drop();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });

    test("the machine ends ACTIVE on the adopted guest (or ERROR with a reason); nothing leaks", async (t) => {
      const s = server as ServeProcess;
      const m = (
        await s.client(MachineService).provision({
          requestId: "crash-1",
          spec: {
            name: "crash-vm",
            image: "tiny",
            groups: [{ resources: { VCPU: 1n, MEMORY_MB: 256n, DISK_GB: 1n } }],
          },
        })
      ).machine;
      assert.ok(m);
      // Mid-build: QEMU runs, the machine is still PROVISIONING (the guest has not booted).
      const [pid] = await eventually(
        () => "QEMU never started for the machine",
        120_000,
        () => {
          const pids = qemuProcesses(m.uuid);
          return pids.length > 0 ? pids : undefined;
        },
      );
      const before = (await s.client(MachineService).getMachine({ machine: m.uuid })).machine;
      await s.kill("SIGKILL");
      assert.equal(before?.state, MachineState.PROVISIONING, "killed mid-build");
      const killedAt = Date.now();
      await new Promise((r) => setTimeout(r, DOWN_MS));
      await s.start();

      const machines = s.client(MachineService);
      const ended = await untilState(
        machines,
        m.uuid,
        [MachineState.ACTIVE, MachineState.ERROR],
        240_000,
      );
      const resource = s.client(ResourceService);
      await auditClaims(resource, machines, HOST);
      t.diagnostic(`ended ${MachineState[ended.state]} ${ended.reason} ${ended.message}`);
      if (ended.state === MachineState.ERROR) {
        assert.notEqual(ended.reason, "", "an ERROR says why");
        await eventually(
          () => "the failed build left a QEMU process",
          60_000,
          () => (qemuProcesses(m.uuid).length === 0 ? true : undefined),
        );
      } else {
        assert.deepEqual(qemuProcesses(m.uuid), [pid], "the same guest, not a second one");
        const held = await resource.getAllocations({ consumer: m.uuid });
        assert.equal(held.allocations[0]?.providerName, HOST);
        const events: { state: MachineState; message: string; at: number }[] = [];
        for await (const r of machines.watchMachine({ machine: m.uuid })) {
          const e = r.event;
          if (e)
            events.push({
              state: e.state,
              message: e.message,
              at: Number(e.time?.seconds ?? 0) * 1000,
            });
          if (e?.state === MachineState.ACTIVE) break;
        }
        const active = events.find((e) => e.state === MachineState.ACTIVE);
        t.diagnostic(events.map((e) => `${MachineState[e.state]}: ${e.message}`).join(" | "));
        // Finished after the crash: the task was delivered again and the guest adopted.
        if ((active?.at ?? 0) >= killedAt - 1000)
          assert.ok(
            events.some((e) => /adopted the running guest/.test(e.message)),
            events.map((e) => e.message).join(" | "),
          );
      }

      await machines.decommission({ machine: m.uuid });
      await untilState(machines, m.uuid, [MachineState.DELETED], 120_000);
      await auditClaims(resource, machines, HOST);
      const left = await resource.getAllocations({ consumer: m.uuid }).catch(() => undefined);
      assert.equal(left?.allocations.length ?? 0, 0, "the claim was released");
      await eventually(
        () => "a QEMU process outlived the decommission",
        30_000,
        () => (qemuProcesses(m.uuid).length === 0 ? true : undefined),
      );
      assert.deepEqual(await (driver as QemuDriver).list(), [], "no guest left on the host");
    });
  });
}

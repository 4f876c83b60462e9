/**
 * The executor dies mid-build: a real `mulligan executor` child process is SIGKILLed while its
 * guest boots. QEMU runs detached, so the guest lives on; the task's lease (3 s here) lapses,
 * and the executor started again on the same host and state directory gets the task once more
 * and adopts the running guest — the same QEMU process, not a second one — and the machine
 * ends ACTIVE (or ERROR with a reason). Then Decommission leaves no claim and no QEMU process.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { QemuDriver } from "../src/executor/drivers/qemu/qemu-driver.js";
import {
  ImageService,
  MachineService,
  MachineState,
} from "../src/gen/mulligan/control/v1/control_pb.js";
import { AccountKind, IdentityService, Role } from "../src/gen/mulligan/iam/v1/iam_pb.js";
import { ResourceService } from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { type FreshStore, freshStore, startTestServer, type TestServer } from "./harness.js";
import {
  auditClaims,
  eventually,
  killChild,
  qemuProcesses,
  spawnMulligan,
  untilState,
} from "./machine-helpers.js";
import { testImage, testImageRequest } from "./test-image.js";

const HOST = "kill-host";

describe("the executor is SIGKILLed mid-build and started again (real QEMU) [sqlite]", () => {
  let store: FreshStore | undefined;
  let server: TestServer | undefined;
  let executor: ChildProcess | undefined;
  let stateDir = "";
  let secretFile = "";

  /** `mulligan executor` for HOST on the server, as an operator would run it. */
  function startExecutor(): ChildProcess {
    const s = server as TestServer;
    return spawnMulligan([
      "--server",
      s.url,
      "executor",
      "--account",
      "kill-exec",
      "--secret-file",
      secretFile,
      "--host-name",
      HOST,
      "--region",
      "lab",
      "--state-dir",
      stateDir,
      "--accel",
      "tcg",
      "--max-builds",
      "1",
      "--boot-timeout",
      "180",
    ]);
  }

  before(async () => {
    const image = testImage();
    store = await freshStore("sqlite");
    server = await startTestServer(store.url, undefined, {
      configure: (c) => {
        c.control = { leaseMs: 3000, maxAttempts: 1 };
      },
    });
    const s = server;
    stateDir = mkdtempSync(join(tmpdir(), "mulligan-exec-kill-"));
    secretFile = join(stateDir, "secret");
    await s.meta().createRegion({ name: "lab" });
    const iam = s.client(IdentityService);
    const { secret } = await iam.createAccount({ name: "kill-exec", kind: AccountKind.EXECUTOR });
    await iam.grantRole({ account: "kill-exec", project: "", role: Role.EXECUTOR });
    writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
    executor = startExecutor();
    // Registered means its inventories are set too: the executor creates the provider first,
    // and a machine provisioned in between finds no capacity.
    await eventually(
      () => "the executor never registered its host with its inventories",
      120_000,
      () =>
        s
          .client(ResourceService)
          .getInventories({ provider: HOST })
          .then(
            (r) => r.inventories.some((i) => i.resourceClass === "DISK_GB") || undefined,
            () => undefined,
          ),
    );
    await s.client(ImageService).registerImage(testImageRequest(image));
  });

  after(async () => {
    if (executor) await killChild(executor, "SIGKILL");
    // Whatever a failed test left on the host: the driver removes it like a teardown would.
    const driver = await QemuDriver.create({ stateDir: join(stateDir, "guests"), accel: "tcg" });
    for (const g of await driver.list().catch(() => [])) await driver.destroy(g.uuid);
    await driver.close();
    await server?.stop();
    await store?.drop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  test("the restarted executor adopts the running guest; ACTIVE; nothing leaks", async (t) => {
    const s = server as TestServer;
    const machines = s.client(MachineService);
    const m = (
      await machines.provision({
        spec: {
          name: "kill-vm",
          image: "tiny",
          groups: [{ resources: { VCPU: 1n, MEMORY_MB: 256n, DISK_GB: 1n } }],
        },
      })
    ).machine;
    assert.ok(m);
    let seen = "";
    const [pid] = await eventually(
      () => `QEMU never started for the machine (${seen})`,
      180_000,
      async () => {
        const pids = qemuProcesses(m.uuid);
        if (pids.length > 0) return pids;
        const now = (await machines.getMachine({ machine: m.uuid })).machine;
        seen = `${MachineState[now?.state ?? 0]} ${now?.reason} ${now?.message}`;
        return undefined;
      },
    );
    await killChild(executor as ChildProcess, "SIGKILL");
    const killed = (await machines.getMachine({ machine: m.uuid })).machine;
    assert.deepEqual(qemuProcesses(m.uuid), [pid], "the guest outlives its executor");

    // The lease lapses while no executor runs; the machine stays PROVISIONING meanwhile.
    await new Promise((r) => setTimeout(r, 4_000));
    if (killed?.state === MachineState.PROVISIONING)
      assert.equal(
        (await machines.getMachine({ machine: m.uuid })).machine?.state,
        MachineState.PROVISIONING,
        "nothing finishes the build without an executor",
      );
    executor = startExecutor();

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
    } else {
      assert.deepEqual(qemuProcesses(m.uuid), [pid], "the same guest, not a second one");
      assert.equal((await resource.getAllocations({ consumer: m.uuid })).allocations.length, 1);
      if (killed?.state === MachineState.PROVISIONING) {
        const messages: string[] = [];
        for await (const r of machines.watchMachine({ machine: m.uuid })) {
          messages.push(r.event?.message ?? "");
          if (r.event?.state === MachineState.ACTIVE) break;
        }
        assert.ok(
          messages.some((x) => /adopted the running guest/.test(x)),
          messages.join(" | "),
        );
      }
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
  });
});

/**
 * The task deadline (`control_task_deadline`) on both stores, the executor and the conductor
 * played by this test through ExecutorService: a task that no executor leases, or whose lease
 * lapsed and nobody took again, fails EXECUTOR_LOST once nobody has worked on it for the
 * deadline, with its machine's claim released and its node in the step's failure state; a task
 * whose lease is renewed runs as long as it needs, past the deadline.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { Code } from "@connectrpc/connect";
import * as repo from "../src/control/repo.js";
import {
  ExecutorService,
  ImageService,
  MachineKind,
  MachineService,
  MachineState,
  type Task,
  TaskKind,
} from "../src/gen/mulligan/control/v1/control_pb.js";
import { BmcDriver, NodeService, NodeState } from "../src/gen/mulligan/control/v1/node_pb.js";
import { ResourceService } from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { assertNothingHeld, expectGrpcError, forEachStore } from "./harness.js";
import { addHost, registerKernelImage } from "./machine-helpers.js";

const LEASE_MS = 1000;
const DEADLINE_MS = 3000;
/** Longest a test waits for the scheduler to act after the deadline. */
const PATIENCE_MS = DEADLINE_MS + 8000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean) {
  const end = Date.now() + PATIENCE_MS;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > end)
      assert.fail(
        `${what}: still ${JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? Number(x) : x))}`,
      );
    await sleep(50);
  }
}

const vm = (name: string) => ({
  name,
  image: "tiny",
  groups: [{ resources: { VCPU: 1n, MEMORY_MB: 256n, DISK_GB: 1n } }],
});

const bareMetal = (name: string) => ({
  name,
  image: "os",
  kind: MachineKind.BAREMETAL,
  groups: [{ resources: { CUSTOM_BAREMETAL_SMALL: 1n } }],
});

forEachStore(
  "task deadline: only tasks nobody works on fail EXECUTOR_LOST",
  (server) => {
    let executor = "";
    let conductor = "";
    let host = "";
    const machines = () => server().client(MachineService);
    const machine = async (uuid: string) =>
      (await machines().getMachine({ machine: uuid })).machine;
    const nodes = () => server().client(NodeService);
    const node = async (ref: string) => (await nodes().getNode({ node: ref })).node;

    /**
     * Leases the task of `kind` for `machineUuid` (or the node task of `kind`), as the executor
     * (`group` "") or the conductor; tasks of earlier tests found on the way are reported done.
     */
    const lease = async (kind: TaskKind, machineUuid: string, group = ""): Promise<Task> => {
      const token = group ? conductor : executor;
      const ex = server().client(ExecutorService, token);
      const end = Date.now() + 10_000;
      while (Date.now() < end) {
        const r = await ex.leaseTasks({
          hosts: group ? ["conductor-host"] : [host],
          conductorGroup: group,
          waitSeconds: 2,
          maxTasks: 8,
        });
        let found: Task | undefined;
        for (const t of r.tasks) {
          if (t.kind === kind && (machineUuid === "" || t.machineUuid === machineUuid)) found = t;
          else
            await ex.reportTask({
              taskUuid: t.uuid,
              leaseToken: t.leaseToken,
              result: { case: "done", value: true },
            });
        }
        if (found) return found;
      }
      assert.fail(`no ${TaskKind[kind]} task for ${machineUuid || group}`);
    };
    const report = (token: string, t: Task, r: Record<string, unknown>) =>
      server()
        .client(ExecutorService, token)
        .reportTask({ taskUuid: t.uuid, leaseToken: t.leaseToken, ...r });
    /** Renews a lease with progress reports until `ms` have passed. */
    const keepRenewing = async (token: string, t: Task, ms: number) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const r = await report(token, t, { step: "work", message: "still working" });
        assert.equal(r.cancelled, false);
        await sleep(LEASE_MS / 4);
      }
    };

    test("setup: a VM host, a conductor, an enrolled and inspected node", async () => {
      const s = server();
      await s.meta().createRegion({ name: "lab" });
      host = await addHost(s, "vm-host", 8);
      await registerKernelImage(s, "tiny");
      await s.client(ResourceService).createProvider({ name: "conductor-host", region: "lab" });
      await s.client(ImageService).registerImage({
        name: "os",
        source: {
          case: "disk",
          value: { source: "/srv/os.raw", format: 2, sha256: "b".repeat(64) },
        },
      });
      executor = await s.tokenFor({ role: "executor", project: null, kind: "executor" });
      conductor = await s.tokenFor({ role: "executor", project: null, kind: "executor" });
      await nodes().enrollNode({
        name: "bm-1",
        region: "lab",
        bmc: {
          driver: BmcDriver.IPMI,
          address: "127.0.0.1",
          port: 9623,
          username: "admin",
          password: "pw",
        },
        bootMacs: ["52:54:00:12:34:56"],
        flavor: "small",
      });
      await report(conductor, await lease(TaskKind.VERIFY_NODE, "", "default"), {
        result: { case: "done", value: true },
      });
      await nodes().inspectNode({ node: "bm-1" });
      await report(conductor, await lease(TaskKind.INSPECT_NODE, "", "default"), {
        result: { case: "done", value: true },
        inventory: { cpus: 2, memoryMb: 1024n, disks: [{ name: "vda", sizeBytes: 4n << 30n }] },
      });
      assert.equal((await node("bm-1"))?.state, NodeState.MANAGEABLE);
    });

    test("a build no executor ever leases fails EXECUTOR_LOST after the deadline; the claim is released", async () => {
      const s = server();
      const m = (await machines().provision({ spec: vm("never-leased") })).machine;
      assert.ok(m);
      const queued = Date.now();
      await waitFor(
        "provisioning",
        () => machine(m.uuid),
        (x) => x?.state === MachineState.PROVISIONING,
      );
      const held = await s.client(ResourceService).getAllocations({ consumer: m.uuid });
      assert.equal(held.allocations.length, 1, "the build holds a claim while it waits");
      const failed = await waitFor(
        "the build failed",
        () => machine(m.uuid),
        (x) => x?.state !== MachineState.PROVISIONING,
      );
      assert.ok(Date.now() - queued >= DEADLINE_MS, "failed before the deadline");
      assert.equal(MachineState[failed?.state ?? 0], "ERROR");
      assert.equal(failed?.reason, "EXECUTOR_LOST");
      assert.equal(failed?.failedStep, "build");
      assert.equal(failed?.attempts[0]?.reason, "EXECUTOR_LOST");
      assert.equal(failed?.allocations.length, 0);
      await assertNothingHeld(s, m.uuid);
      // The failed build's cleanup is queued for the host like any other.
      const d = await lease(TaskKind.DESTROY_VM, m.uuid);
      await report(executor, d, { result: { case: "done", value: true } });
    });

    test("a build whose lease is renewed runs past the deadline and finishes", async () => {
      const s = server();
      const m = (await machines().provision({ spec: vm("slow-build") })).machine;
      assert.ok(m);
      const t = await lease(TaskKind.BUILD_VM, m.uuid);
      // Created and leased more than a deadline ago, the lease live throughout: not overdue.
      await keepRenewing(executor, t, DEADLINE_MS * 2);
      assert.equal((await machine(m.uuid))?.state, MachineState.PROVISIONING);
      await report(executor, t, { result: { case: "done", value: true } });
      assert.equal((await machine(m.uuid))?.state, MachineState.ACTIVE);
      await machines().decommission({ machine: m.uuid });
      await report(executor, await lease(TaskKind.DESTROY_VM, m.uuid), {
        result: { case: "done", value: true },
      });
      await assertNothingHeld(s, m.uuid);
    });

    test("a task read as overdue is not failed once its executor renewed it meanwhile", async () => {
      const s = server();
      const db = s.host.store.db;
      const m = (await machines().provision({ spec: vm("raced") })).machine;
      assert.ok(m);
      const t = await lease(TaskKind.BUILD_VM, m.uuid);
      // What the deadline sweep read a moment ago; then the executor reports (renews).
      const read = await repo.getTask(db, t.uuid);
      assert.ok(read);
      await sleep(5);
      await report(executor, t, { step: "boot", message: "still booting" });
      const late = `overdue:${randomUUID()}`;
      const until = new Date(Date.now() + LEASE_MS).toISOString();
      assert.equal(
        await repo.takeOverdueTask(db, read, late, until, new Date().toISOString()),
        undefined,
        "a task renewed since it was read must not be taken",
      );
      assert.equal((await repo.getTask(db, t.uuid))?.leaseToken, t.leaseToken);
      // Read again, unchanged since: taken, and the executor's lease is gone.
      const fresh = await repo.getTask(db, t.uuid);
      assert.ok(fresh);
      const taken = await repo.takeOverdueTask(db, fresh, late, until, new Date().toISOString());
      assert.equal(taken?.leaseToken, late);
      await expectGrpcError(
        report(executor, t, { step: "boot" }),
        Code.FailedPrecondition,
        "LEASE_LOST",
      );
      // The sweep's own lease lapses unfinished here: the task goes back to executors.
      const again = await lease(TaskKind.BUILD_VM, m.uuid);
      await report(executor, again, { result: { case: "done", value: true } });
      await machines().decommission({ machine: m.uuid });
      await report(executor, await lease(TaskKind.DESTROY_VM, m.uuid), {
        result: { case: "done", value: true },
      });
      await assertNothingHeld(s, m.uuid);
    });

    test("a lease that lapsed and nobody takes again fails EXECUTOR_LOST a deadline after the lease", async () => {
      const s = server();
      const m = (await machines().provision({ spec: vm("lapsed") })).machine;
      assert.ok(m);
      await waitFor(
        "provisioning",
        () => machine(m.uuid),
        (x) => x?.state === MachineState.PROVISIONING,
      );
      // The task waits half a deadline before an executor takes it: the deadline counts from
      // the lease, not from the queueing.
      await sleep(DEADLINE_MS / 2);
      const t = await lease(TaskKind.BUILD_VM, m.uuid);
      const leased = Date.now();
      await report(executor, t, { step: "start", message: "qemu started" });
      const failed = await waitFor(
        "the build failed",
        () => machine(m.uuid),
        (x) => x?.state !== MachineState.PROVISIONING,
      );
      assert.ok(
        Date.now() - leased >= DEADLINE_MS,
        `failed ${Date.now() - leased} ms after the lease, before the deadline`,
      );
      assert.equal(MachineState[failed?.state ?? 0], "ERROR");
      assert.equal(failed?.reason, "EXECUTOR_LOST");
      assert.match(failed?.message ?? "", /no executor worked on the task/);
      await assertNothingHeld(s, m.uuid);
      // The executor that comes back is told its lease is gone.
      await expectGrpcError(
        report(executor, t, { step: "boot" }),
        Code.FailedPrecondition,
        "LEASE_LOST",
      );
      await report(executor, await lease(TaskKind.DESTROY_VM, m.uuid), {
        result: { case: "done", value: true },
      });
    });

    test("bare metal: a clean renewed past the deadline finishes AVAILABLE", async () => {
      await nodes().cleanNode({ node: "bm-1" });
      const c = await lease(TaskKind.CLEAN_NODE, "", "default");
      await keepRenewing(conductor, c, DEADLINE_MS * 2);
      assert.equal((await node("bm-1"))?.state, NodeState.CLEANING);
      await report(conductor, c, { result: { case: "done", value: true } });
      assert.equal((await node("bm-1"))?.state, NodeState.AVAILABLE);
    });

    test("bare metal: a deploy no conductor leases fails EXECUTOR_LOST: DEPLOY_FAILED, machine ERROR, claim released", async () => {
      const s = server();
      const m = (await machines().provision({ spec: bareMetal("metal-lost") })).machine;
      assert.ok(m);
      await waitFor(
        "deploying",
        () => node("bm-1"),
        (n) => n?.state === NodeState.DEPLOYING,
      );
      const n = await waitFor(
        "the deploy failed",
        () => node("bm-1"),
        (x) => x?.state !== NodeState.DEPLOYING,
      );
      assert.equal(NodeState[n?.state ?? 0], "DEPLOY_FAILED");
      assert.deepEqual(
        { step: n?.lastError?.step, reason: n?.lastError?.reason },
        { step: "deploy", reason: "EXECUTOR_LOST" },
      );
      assert.equal(n?.machineUuid, "");
      const failed = await waitFor(
        "the machine failed",
        () => machine(m.uuid),
        (x) => x?.state !== MachineState.PROVISIONING,
      );
      assert.equal(MachineState[failed?.state ?? 0], "ERROR");
      assert.equal(failed?.reason, "EXECUTOR_LOST");
      await assertNothingHeld(s, m.uuid);
    });

    test("bare metal: a clean whose lease lapsed fails EXECUTOR_LOST: CLEAN_FAILED with the reason", async () => {
      await nodes().cleanNode({ node: "bm-1" });
      const c = await lease(TaskKind.CLEAN_NODE, "", "default");
      const leased = Date.now();
      await report(conductor, c, { step: "erase", message: "erasing vda" });
      const n = await waitFor(
        "the clean failed",
        () => node("bm-1"),
        (x) => x?.state !== NodeState.CLEANING,
      );
      assert.ok(Date.now() - leased >= DEADLINE_MS, "failed before the deadline");
      assert.equal(NodeState[n?.state ?? 0], "CLEAN_FAILED");
      assert.equal(n?.failedState, NodeState.CLEAN_FAILED);
      assert.deepEqual(
        { step: n?.lastError?.step, reason: n?.lastError?.reason },
        { step: "clean", reason: "EXECUTOR_LOST" },
      );
    });
  },
  {
    configure: (config) => {
      config.control = { leaseMs: LEASE_MS, taskDeadlineMs: DEADLINE_MS, maxAttempts: 1 };
    },
  },
);

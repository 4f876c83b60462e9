/**
 * The control plane's provisioning path over real gRPC on both stores, with the executor's side
 * played by this test through ExecutorService (the real executor and QEMU run in
 * machine-vm.test.ts): the lifecycle, idempotency, scheduling failures with the engine's
 * explanation, rescheduling after host failures with every claim released, lease expiry and
 * redelivery, watch streams, input errors and tenancy.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code } from "@connectrpc/connect";
import {
  ExecutorService,
  ImageFormat,
  ImageService,
  MachineService,
  MachineState,
  type Task,
  TaskKind,
} from "../src/gen/mulligan/control/v1/control_pb.js";
import { ResourceService } from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { assertNothingHeld, expectGrpcError, forEachStore, type TestServer } from "./harness.js";
import { addHost, registerKernelImage } from "./machine-helpers.js";

const groups = (vcpu: number, mem = 256) => [
  { resources: { VCPU: BigInt(vcpu), MEMORY_MB: BigInt(mem), DISK_GB: 1n } },
];

/** Waits until the machine is in `state` (or fails after `ms`). */
async function until(
  s: TestServer,
  machine: string,
  state: MachineState,
  token?: string,
  ms = 10_000,
) {
  const m = s.client(MachineService, token);
  const end = Date.now() + ms;
  for (;;) {
    const got = (await m.getMachine({ machine })).machine;
    if (got?.state === state) return got;
    if (Date.now() > end)
      assert.fail(
        `machine ${machine} is ${MachineState[got?.state ?? 0]} (${got?.message}), not ${MachineState[state]}`,
      );
    await new Promise((r) => setTimeout(r, 50));
  }
}

forEachStore(
  "control: machines, tasks and executors",
  (server) => {
    let executorToken = "";
    let hostA = "";
    let hostB = "";
    const lease = async (host: string, wait = 5): Promise<Task> => {
      const ex = server().client(ExecutorService, executorToken);
      const r = await ex.leaseTasks({ hosts: [host], waitSeconds: wait });
      const t = r.tasks[0];
      assert.ok(t, `no task for ${host}`);
      return t;
    };
    const report = (t: Task, r: Record<string, unknown>) =>
      server()
        .client(ExecutorService, executorToken)
        .reportTask({ taskUuid: t.uuid, leaseToken: t.leaseToken, ...r });

    /** Provisions a one-VCPU `tiny` machine; resolves once it is building, with its host. */
    const building = async (name: string) => {
      const s = server();
      const m = (
        await s
          .client(MachineService)
          .provision({ spec: { name, image: "tiny", groups: groups(1) } })
      ).machine;
      assert.ok(m, `machine ${name} not provisioned`);
      return { m, host: (await until(s, m.uuid, MachineState.PROVISIONING)).hostUuid };
    };

    test("setup: two hosts, an image, an executor account", async () => {
      const s = server();
      await s.meta().createRegion({ name: "lab" });
      hostA = await addHost(s, "host-a");
      hostB = await addHost(s, "host-b");
      await registerKernelImage(s, "tiny", { bootMarker: "READY", cmdline: "console=ttyS0" });
      executorToken = await s.tokenFor({ role: "executor", project: null, kind: "executor" });
    });

    test("LeaseTasks: wait_seconds 0 answers at once; unset waits; a call its caller left ends", async () => {
      const ex = server().client(ExecutorService, executorToken);
      // Nothing is queued yet. A 0 s wait must not fall back to the default wait.
      const now = await ex.leaseTasks(
        { hosts: [hostA, hostB], waitSeconds: 0 },
        { timeoutMs: 5000 },
      );
      assert.deepEqual(now.tasks, [], "no task is queued");
      // Unset: the call is still waiting after a second; it ends when its caller gives up.
      const abort = new AbortController();
      let settled = false;
      const waiting = ex
        .leaseTasks({ hosts: [hostA, hostB] }, { signal: abort.signal })
        .finally(() => {
          settled = true;
        });
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(settled, false, "an unset wait_seconds answered without waiting");
      abort.abort();
      await assert.rejects(waiting);
      // The call the executor left ends on the server too: it must not lease the next task
      // (nobody would run it until the lease lapsed).
      const s = server();
      const machines = s.client(MachineService);
      const { m, host } = await building("left");
      const build = await lease(host, 1);
      assert.equal(build.deliveries, 1, "a LeaseTasks its caller left took the task");
      await report(build, { result: { case: "done", value: true } });
      await until(s, m.uuid, MachineState.ACTIVE);
      await machines.decommission({ machine: m.uuid });
      await report(await lease(host), { result: { case: "done", value: true } });
      await until(s, m.uuid, MachineState.DELETED);
    });

    test("provision → build on a host → ACTIVE; decommission → teardown → DELETED, claim released", async () => {
      const s = server();
      const machines = s.client(MachineService);
      const created = (
        await machines.provision({
          requestId: "prov-1",
          spec: {
            name: "vm-1",
            image: "tiny",
            groups: groups(2),
            sshKeys: ["ssh-ed25519 AAAAC3Nza test@x"],
          },
        })
      ).machine;
      assert.ok(created);
      assert.equal(created.state, MachineState.PENDING);
      const again = (
        await machines.provision({
          requestId: "prov-1",
          spec: {
            name: "vm-1",
            image: "tiny",
            groups: groups(2),
            sshKeys: ["ssh-ed25519 AAAAC3Nza test@x"],
          },
        })
      ).machine;
      assert.equal(again?.uuid, created.uuid, "the same request_id gives the same machine");

      const events: string[] = [];
      const watching = (async () => {
        for await (const r of machines.watchMachine({ machine: created.uuid }))
          events.push(`${MachineState[r.event?.state ?? 0]}:${r.event?.step}`);
      })();

      const host = (await until(s, created.uuid, MachineState.PROVISIONING)).hostUuid;
      assert.ok(host === hostA || host === hostB);
      const task = await lease(host);
      assert.equal(task.kind, TaskKind.BUILD_VM);
      assert.equal(task.guest?.vcpus, 2);
      assert.equal(task.guest?.memoryMb, 256n);
      assert.equal(task.guest?.image?.name, "tiny");
      assert.deepEqual(task.guest?.sshKeys, ["ssh-ed25519 AAAAC3Nza test@x"]);
      await report(task, { step: "start", message: "qemu started" });
      await report(task, { result: { case: "done", value: true }, console: "booted\nREADY\n" });
      const active = await until(s, created.uuid, MachineState.ACTIVE);
      assert.equal(active.allocations.length, 1);
      assert.equal((await machines.getConsoleLog({ machine: "vm-1" })).text, "booted\nREADY\n");
      const usage = await s.client(ResourceService).getAllocations({ consumer: created.uuid });
      assert.equal(usage.allocations[0]?.resources.VCPU, 2n);

      const down = (await machines.decommission({ machine: "vm-1" })).machine;
      assert.equal(down?.state, MachineState.DECOMMISSIONING);
      const destroy = await lease(host);
      assert.equal(destroy.kind, TaskKind.DESTROY_VM);
      await report(destroy, { result: { case: "done", value: true } });
      await until(s, created.uuid, MachineState.DELETED);
      await watching;
      assert.deepEqual(
        events.filter((e) => !e.endsWith(":start")),
        [
          "PENDING:accept",
          "SCHEDULING:schedule",
          "PROVISIONING:schedule",
          "ACTIVE:boot",
          "DECOMMISSIONING:teardown",
          "DELETED:teardown",
        ],
      );
      assert.ok(events.includes("PROVISIONING:start"), "progress steps are events");
      await assertNothingHeld(s, created.uuid, "allocation released");
      // The name is free again once the machine is DELETED.
      const reuse = (
        await machines.provision({ spec: { name: "vm-1", image: "tiny", groups: groups(1) } })
      ).machine;
      assert.ok(reuse);
      await machines.decommission({ machine: reuse.uuid });
      await until(s, reuse.uuid, MachineState.DELETED).catch(async () => {
        // It may have reached a host: tear it down there.
        const t = await lease(
          (await machines.getMachine({ machine: reuse.uuid })).machine?.hostUuid ?? "",
        );
        await report(t, { result: { case: "done", value: true } });
        await until(s, reuse.uuid, MachineState.DELETED);
      });
    });

    test("nothing fits: ERROR at once with the engine's explanation", async () => {
      const s = server();
      const m = (
        await s
          .client(MachineService)
          .provision({ spec: { name: "too-big", image: "tiny", groups: groups(64) } })
      ).machine;
      assert.equal(m?.state, MachineState.ERROR);
      assert.equal(m?.reason, "NO_CAPACITY");
      assert.equal(m?.failedStep, "schedule");
      assert.match(m?.message ?? "", /VCPU/);
      await s.client(MachineService).decommission({ machine: "too-big" });
      await until(s, m?.uuid ?? "", MachineState.DELETED);
    });

    test("a host failure reschedules to the other host; when no untried host is left: ERROR NO_CAPACITY, claims released", async () => {
      const s = server();
      const machines = s.client(MachineService);
      const { m, host: first } = await building("flaky");
      const t1 = await lease(first);
      await report(t1, {
        result: {
          case: "failure",
          value: {
            step: "start",
            reason: "HYPERVISOR_MISSING",
            message: "no qemu",
            hostFault: true,
          },
        },
      });
      // The failed host gets a cleanup task; the machine goes to the other host.
      const cleanup = await lease(first);
      assert.equal(cleanup.kind, TaskKind.DESTROY_VM);
      await report(cleanup, { result: { case: "done", value: true } });
      const second = await until(s, m.uuid, MachineState.PROVISIONING);
      assert.notEqual(second.hostUuid, first, "the failed host is avoided");
      assert.equal(second.attempts.length, 2);
      assert.equal(second.attempts[0]?.reason, "HYPERVISOR_MISSING");
      const t2 = await lease(second.hostUuid);
      await report(t2, {
        result: {
          case: "failure",
          value: {
            step: "start",
            reason: "HYPERVISOR_FAILED",
            message: "crashed",
            hostFault: true,
          },
        },
      });
      // Two hosts, both failed: the third attempt finds no host left.
      const failed = await until(s, m.uuid, MachineState.ERROR);
      assert.equal(failed.reason, "NO_CAPACITY");
      assert.equal(failed.attempts.length, 2);
      await assertNothingHeld(s, m.uuid, "no claim left behind");
      await report(await lease(second.hostUuid), { result: { case: "done", value: true } });
      await machines.decommission({ machine: m.uuid });
    });

    test("a failure that is not the host's goes ERROR with the failing step; the claim is released", async () => {
      const s = server();
      const machines = s.client(MachineService);
      const { m, host } = await building("bad-image");
      const t = await lease(host);
      await report(t, {
        result: {
          case: "failure",
          value: {
            step: "image",
            reason: "IMAGE_CHECKSUM_MISMATCH",
            message: "expected a…, got b…",
            hostFault: false,
          },
        },
      });
      const failed = await until(s, m.uuid, MachineState.ERROR);
      assert.equal(failed.failedStep, "image");
      assert.equal(failed.reason, "IMAGE_CHECKSUM_MISMATCH");
      assert.equal(failed.attempts.length, 1);
      await assertNothingHeld(s, m.uuid);
      await report(await lease(host), { result: { case: "done", value: true } });
      await machines.decommission({ machine: m.uuid });
      await until(s, m.uuid, MachineState.DELETED);
    });

    test("a lease that is not renewed expires: the task is delivered again, the old lease is refused", async () => {
      const s = server();
      const { m, host } = await building("lease");
      const t1 = await lease(host);
      assert.equal(t1.deliveries, 1);
      // The test server's lease is 1.5 s.
      const t2 = await lease(host, 5);
      assert.equal(t2.uuid, t1.uuid);
      assert.equal(t2.deliveries, 2);
      await expectGrpcError(report(t1, { step: "start" }), Code.FailedPrecondition, "LEASE_LOST");
      await report(t2, { result: { case: "done", value: true } });
      await until(s, m.uuid, MachineState.ACTIVE);
      // Decommission cancels nothing here; a stale build report would now be told it is cancelled.
      await s.client(MachineService).decommission({ machine: m.uuid });
      const d = await lease(host);
      await report(d, { result: { case: "done", value: true } });
      await until(s, m.uuid, MachineState.DELETED);
    });

    test("a decommission during the build cancels it: the executor is told, the machine is torn down", async () => {
      const s = server();
      const machines = s.client(MachineService);
      const { m, host } = await building("cancel-me");
      const build = await lease(host);
      await machines.decommission({ machine: m.uuid });
      const r = await report(build, { step: "boot", message: "waiting" });
      assert.equal(r.cancelled, true);
      const d = await lease(host);
      assert.equal(d.kind, TaskKind.DESTROY_VM);
      await report(d, { result: { case: "done", value: true } });
      await until(s, m.uuid, MachineState.DELETED);
    });

    test("bad input: every field error at once, with its field", async () => {
      const machines = server().client(MachineService);
      await expectGrpcError(
        machines.provision({ spec: { name: "", image: "tiny", groups: groups(1) } }),
        Code.InvalidArgument,
        "FIELD_REQUIRED",
        "spec.name",
      );
      await expectGrpcError(
        machines.provision({ spec: { name: "a_b", image: "tiny", groups: groups(1) } }),
        Code.InvalidArgument,
        "NAME_INVALID",
        "spec.name",
      );
      await expectGrpcError(
        machines.provision({ spec: { name: "x", image: "tiny" } }),
        Code.InvalidArgument,
        "FIELD_REQUIRED",
        "spec.groups",
      );
      await expectGrpcError(
        machines.provision({
          spec: { name: "x", image: "tiny", groups: [{ resources: { VCPU: 1n } }] },
        }),
        Code.InvalidArgument,
        "RESOURCES_INCOMPLETE",
        "spec.groups",
      );
      await expectGrpcError(
        machines.provision({
          spec: { name: "x", image: "tiny", groups: groups(1), sshKeys: ["not a key"] },
        }),
        Code.InvalidArgument,
        "SSH_KEY_INVALID",
        "spec.ssh_keys[0]",
      );
      await expectGrpcError(
        machines.provision({ spec: { name: "x", image: "nope", groups: groups(1) } }),
        Code.NotFound,
        "IMAGE_NOT_FOUND",
        "spec.image",
      );
      await expectGrpcError(
        machines.provision({
          spec: {
            name: "x",
            image: "tiny",
            groups: [{ resources: { VCPU: 1n, MEMORY_MB: 1n, CUSTOM_NOPE: 1n } }],
          },
        }),
        Code.InvalidArgument,
        "RESOURCE_CLASS_UNKNOWN",
      );
      await expectGrpcError(
        machines.getMachine({ machine: "no-such" }),
        Code.NotFound,
        "MACHINE_NOT_FOUND",
        "machine",
      );
      const images = server().client(ImageService);
      await expectGrpcError(
        images.registerImage({
          name: "d",
          source: {
            case: "disk",
            value: { source: "rel/path", format: ImageFormat.QCOW2, sha256: "xyz" },
          },
        }),
        Code.InvalidArgument,
        "SOURCE_INVALID",
        "disk.source",
      );
      await expectGrpcError(
        images.registerImage({ name: "d" }),
        Code.InvalidArgument,
        "FIELD_REQUIRED",
        "source",
      );
    });

    test("tenancy: another project cannot see, watch, read the console of or decommission a machine", async () => {
      const s = server();
      const alice = await s.tokenFor({ role: "member", project: "proj-a" });
      const bob = await s.tokenFor({ role: "member", project: "proj-b" });
      const mine = (
        await s
          .client(MachineService, alice)
          .provision({ spec: { name: "private", image: "tiny", groups: groups(1) } })
      ).machine;
      assert.ok(mine);
      assert.equal(mine.projectName, "proj-a");
      const other = s.client(MachineService, bob);
      for (const ref of [mine.uuid, "private"]) {
        await expectGrpcError(
          other.getMachine({ machine: ref }),
          Code.NotFound,
          "MACHINE_NOT_FOUND",
        );
        await expectGrpcError(
          other.getConsoleLog({ machine: ref }),
          Code.NotFound,
          "MACHINE_NOT_FOUND",
        );
        await expectGrpcError(
          other.decommission({ machine: ref }),
          Code.NotFound,
          "MACHINE_NOT_FOUND",
        );
        await expectGrpcError(
          (async () => {
            for await (const _ of other.watchMachine({ machine: ref })) break;
          })(),
          Code.NotFound,
          "MACHINE_NOT_FOUND",
        );
      }
      assert.deepEqual(
        (await other.listMachines({})).machines.map((m) => m.name),
        [],
      );
      assert.ok(
        (await s.client(MachineService, alice).listMachines({})).machines.some(
          (m) => m.name === "private",
        ),
      );
      const reader = await s.tokenFor({ role: "executor", project: null, kind: "executor" });
      await expectGrpcError(
        s
          .client(MachineService, reader)
          .provision({ spec: { name: "x", image: "tiny", groups: groups(1) } }),
        Code.PermissionDenied,
        "ROLE_REQUIRED",
      );
      await s.client(MachineService, alice).decommission({ machine: mine.uuid });
    });
  },
  {
    configure: (config) => {
      config.control = { leaseMs: 1500, maxAttempts: 3 };
    },
  },
);

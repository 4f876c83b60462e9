/**
 * Build attempts running out, on both stores, the executor played by this test: with more
 * hosts than `maxAttempts`, a machine whose every host fails the build is rescheduled to a new
 * host each time and, after the last attempt, goes ERROR with that failure's reason and a
 * message saying the attempts ran out; every attempt is recorded, no claim is held, and the
 * hosts never tried are still free (the third failure is not NO_CAPACITY).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  ExecutorService,
  MachineService,
  MachineState,
  type Task,
  TaskKind,
} from "../src/gen/mulligan/control/v1/control_pb.js";
import { ResourceService } from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { assertNothingHeld, forEachStore } from "./harness.js";
import { addHost, registerKernelImage } from "./machine-helpers.js";

const MAX_ATTEMPTS = 3;
const HOSTS = ["host-1", "host-2", "host-3", "host-4", "host-5"];

forEachStore(
  "machine attempts: every host fails the build until the attempts run out",
  (server) => {
    let executor = "";
    const hosts = new Map<string, string>();
    const machines = () => server().client(MachineService);

    /** Waits for the machine to be in `state` with `attempts` attempts. */
    const until = async (uuid: string, state: MachineState, attempts: number) => {
      const end = Date.now() + 10_000;
      for (;;) {
        const m = (await machines().getMachine({ machine: uuid })).machine;
        if (m?.state === state && m.attempts.length === attempts) return m;
        if (Date.now() > end)
          assert.fail(
            `machine is ${MachineState[m?.state ?? 0]} with ${m?.attempts.length} attempts (${m?.message})`,
          );
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const lease = async (host: string, kind: TaskKind): Promise<Task> => {
      const r = await server()
        .client(ExecutorService, executor)
        .leaseTasks({ hosts: [host], waitSeconds: 5 });
      const t = r.tasks[0];
      assert.ok(t, `no task for ${host}`);
      assert.equal(TaskKind[t.kind], TaskKind[kind]);
      return t;
    };
    const report = (t: Task, r: Record<string, unknown>) =>
      server()
        .client(ExecutorService, executor)
        .reportTask({ taskUuid: t.uuid, leaseToken: t.leaseToken, ...r });
    const usedOn = async (host: string) =>
      (await server().client(ResourceService).listProviderAllocations({ provider: host }))
        .allocations.length;

    test("setup: five hosts, an image, an executor account", async () => {
      const s = server();
      await s.meta().createRegion({ name: "lab" });
      for (const name of HOSTS) hosts.set(await addHost(s, name), name);
      await registerKernelImage(s, "tiny");
      executor = await s.tokenFor({ role: "executor", project: null, kind: "executor" });
    });

    test("each attempt on a new host fails: ERROR with the last reason after the attempts, every attempt recorded, nothing held", async () => {
      const s = server();
      const m = (
        await machines().provision({
          spec: {
            name: "unlucky",
            image: "tiny",
            groups: [{ resources: { VCPU: 1n, MEMORY_MB: 256n, DISK_GB: 1n } }],
          },
        })
      ).machine;
      assert.ok(m);
      const tried: string[] = [];
      for (let n = 1; n <= MAX_ATTEMPTS; n++) {
        const at = await until(m.uuid, MachineState.PROVISIONING, n);
        assert.ok(!tried.includes(at.hostUuid), `attempt ${n} went back to a failed host`);
        tried.push(at.hostUuid);
        // The claim is on this attempt's host only: the earlier ones were released.
        assert.equal(at.allocations.length, 1);
        assert.equal(await usedOn(at.hostUuid), 1);
        for (const earlier of tried.slice(0, -1)) assert.equal(await usedOn(earlier), 0);
        const build = await lease(at.hostUuid, TaskKind.BUILD_VM);
        await report(build, {
          result: {
            case: "failure",
            value: {
              step: "start",
              reason: `HOST_FAULT_${n}`,
              message: `host ${n} broke`,
              hostFault: true,
            },
          },
        });
        // The failed host cleans up after the build.
        const cleanup = await lease(at.hostUuid, TaskKind.DESTROY_VM);
        await report(cleanup, { result: { case: "done", value: true } });
      }
      const failed = await until(m.uuid, MachineState.ERROR, MAX_ATTEMPTS);
      assert.equal(failed.reason, `HOST_FAULT_${MAX_ATTEMPTS}`, "the last failure's reason");
      assert.equal(failed.failedStep, "start");
      assert.match(failed.message, new RegExp(`after ${MAX_ATTEMPTS} attempts`));
      assert.match(failed.message, new RegExp(`host ${MAX_ATTEMPTS} broke`));
      assert.deepEqual(
        failed.attempts.map((a) => ({
          number: a.number,
          host: a.hostUuid,
          name: a.hostName,
          reason: a.reason,
          step: a.failedStep,
          message: a.message,
        })),
        tried.map((host, i) => ({
          number: i + 1,
          host,
          name: hosts.get(host),
          reason: `HOST_FAULT_${i + 1}`,
          step: "start",
          message: `host ${i + 1} broke`,
        })),
      );
      assert.equal(failed.hostUuid, "");
      assert.equal(failed.allocations.length, 0);
      await assertNothingHeld(s, m.uuid);
      for (const host of hosts.keys()) assert.equal(await usedOn(host), 0, `${hosts.get(host)}`);
      const untried = [...hosts.keys()].filter((h) => !tried.includes(h));
      assert.equal(untried.length, HOSTS.length - MAX_ATTEMPTS, "hosts were left to try");
      // Those hosts are free: a new machine is placed on one of them at once.
      const next = (
        await machines().provision({
          spec: {
            name: "lucky",
            image: "tiny",
            groups: [{ resources: { VCPU: 4n, MEMORY_MB: 256n, DISK_GB: 1n } }],
          },
        })
      ).machine;
      assert.ok(next);
      const placed = await until(next.uuid, MachineState.PROVISIONING, 1);
      assert.ok(hosts.has(placed.hostUuid));
      await machines().decommission({ machine: next.uuid });
      await machines().decommission({ machine: m.uuid });
    });
  },
  {
    configure: (config) => {
      config.control = { leaseMs: 1500, maxAttempts: MAX_ATTEMPTS };
    },
  },
);

/**
 * Hosts belong to executor accounts, on both stores: the first executor account that leases a
 * host's tasks runs that host from then on; another executor account is refused its tasks
 * (PERMISSION_DENIED on LeaseTasks) and cannot report on them even with the right lease token
 * (NOT_FOUND, as for a task that does not exist), while the owner builds the machine to ACTIVE.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code } from "@connectrpc/connect";
import {
  ExecutorService,
  MachineService,
  MachineState,
} from "../src/gen/mulligan/control/v1/control_pb.js";
import { expectGrpcError, forEachStore } from "./harness.js";
import { addHost, registerKernelImage, untilState } from "./machine-helpers.js";

forEachStore("hosts belong to the executor account that runs them", (server) => {
  test("another executor account can neither lease nor report the host's tasks", async () => {
    const s = server();
    await s.meta().createRegion({ name: "lab" });
    const host = await addHost(s, "owned-host");
    await registerKernelImage(s, "img", { bootMarker: "READY" });
    const owner = s.client(
      ExecutorService,
      await s.tokenFor({ role: "executor", project: null, kind: "executor" }),
    );
    const intruder = s.client(
      ExecutorService,
      await s.tokenFor({ role: "executor", project: null, kind: "executor" }),
    );
    // The first lease binds the host, even with nothing to do yet.
    assert.deepEqual((await owner.leaseTasks({ hosts: ["owned-host"], waitSeconds: 0 })).tasks, []);
    await expectGrpcError(
      intruder.leaseTasks({ hosts: ["owned-host"], waitSeconds: 0 }),
      Code.PermissionDenied,
      "HOST_OWNED_BY_ANOTHER_EXECUTOR",
      "hosts[0]",
    );

    const machines = s.client(MachineService);
    const m = (
      await machines.provision({
        spec: {
          name: "owned-vm",
          image: "img",
          groups: [{ resources: { VCPU: 1n, MEMORY_MB: 128n, DISK_GB: 1n } }],
        },
      })
    ).machine;
    assert.ok(m);
    const [task] = (await owner.leaseTasks({ hosts: [host], waitSeconds: 10 })).tasks;
    assert.ok(task, "the owner gets the build");
    await expectGrpcError(
      intruder.leaseTasks({ hosts: [host], waitSeconds: 0 }),
      Code.PermissionDenied,
      "HOST_OWNED_BY_ANOTHER_EXECUTOR",
    );
    // Even the right lease token does not let another account finish (or fail) the build.
    for (const result of [
      { case: "done" as const, value: true },
      {
        case: "failure" as const,
        value: { step: "boot", reason: "BOOT_TIMEOUT", message: "x", hostFault: true },
      },
    ])
      await expectGrpcError(
        intruder.reportTask({ taskUuid: task.uuid, leaseToken: task.leaseToken, result }),
        Code.NotFound,
        "TASK_NOT_FOUND",
        "task_uuid",
      );
    assert.equal(
      (await machines.getMachine({ machine: m.uuid })).machine?.state,
      MachineState.PROVISIONING,
    );
    await owner.reportTask({
      taskUuid: task.uuid,
      leaseToken: task.leaseToken,
      result: { case: "done", value: true },
    });
    await untilState(machines, m.uuid, [MachineState.ACTIVE], 10_000);
  });
});

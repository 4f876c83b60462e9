/**
 * Conductor groups belong to executor accounts, on both stores: the first executor account that
 * leases a conductor group's tasks runs that group from then on; another executor account is
 * refused its tasks (PERMISSION_DENIED on LeaseTasks), so it never receives a node task and the
 * BMC password it carries, and cannot report on one even with the right lease token (NOT_FOUND,
 * as for a task that does not exist), while the owner verifies the node to MANAGEABLE.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code } from "@connectrpc/connect";
import { ExecutorService, TaskKind } from "../src/gen/mulligan/control/v1/control_pb.js";
import { BmcDriver, NodeService, NodeState } from "../src/gen/mulligan/control/v1/node_pb.js";
import { ResourceService } from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { expectGrpcError, forEachStore } from "./harness.js";

const PASSWORD = "owner-only-Bmc-pw!";

forEachStore("conductor groups belong to the executor account that runs them", (server) => {
  test("another executor account can neither lease nor report the group's node tasks", async () => {
    const s = server();
    await s.meta().createRegion({ name: "lab" });
    const r = s.client(ResourceService);
    await r.createProvider({ name: "owner-host", region: "lab" });
    await r.createProvider({ name: "intruder-host", region: "lab" });
    const owner = s.client(
      ExecutorService,
      await s.tokenFor({ role: "executor", project: null, kind: "executor" }),
    );
    const intruder = s.client(
      ExecutorService,
      await s.tokenFor({ role: "executor", project: null, kind: "executor" }),
    );
    const nodes = s.client(NodeService);
    const enroll = async (name: string, group: string, mac: string) => {
      const n = (
        await nodes.enrollNode({
          name,
          region: "lab",
          conductorGroup: group,
          bmc: {
            driver: BmcDriver.IPMI,
            address: "127.0.0.1",
            port: 9623,
            username: "admin",
            password: `${PASSWORD}-${name}`,
          },
          bootMacs: [mac],
          flavor: "small",
        })
      ).node;
      assert.ok(n);
      assert.equal(n.state, NodeState.VERIFYING);
      return n;
    };
    const first = await enroll("bm-a1", "rack-a", "52:54:00:aa:00:01");
    const second = await enroll("bm-a2", "rack-a", "52:54:00:aa:00:02");
    const other = await enroll("bm-b1", "rack-b", "52:54:00:bb:00:01");

    // The first lease of rack-a binds the group to the owner (one task now, one left ready).
    const [task] = (
      await owner.leaseTasks({
        hosts: ["owner-host"],
        conductorGroup: "rack-a",
        maxTasks: 1,
        waitSeconds: 5,
      })
    ).tasks;
    assert.ok(task, "the owner gets a node's task");
    assert.equal(TaskKind[task.kind], TaskKind[TaskKind.VERIFY_NODE]);
    assert.equal(task.node?.nodeUuid, first.uuid);
    assert.equal(task.node?.bmc?.password, `${PASSWORD}-bm-a1`, "the owner receives the password");

    // With bm-a2's task still ready, the intruder is refused rack-a and never handed a password.
    const refused = await expectGrpcError(
      intruder.leaseTasks({ hosts: ["intruder-host"], conductorGroup: "rack-a", waitSeconds: 1 }),
      Code.PermissionDenied,
      "CONDUCTOR_GROUP_OWNED_BY_ANOTHER_EXECUTOR",
      "conductor_group",
    );
    assert.ok(!JSON.stringify(refused).includes(PASSWORD));
    // Its own group stays its to run: it gets rack-b's node and nothing of rack-a.
    const own = (
      await intruder.leaseTasks({
        hosts: ["intruder-host"],
        conductorGroup: "rack-b",
        waitSeconds: 5,
      })
    ).tasks;
    assert.deepEqual(
      own.map((t) => t.node?.nodeUuid),
      [other.uuid],
    );
    assert.equal(own[0]?.node?.bmc?.password, `${PASSWORD}-bm-b1`);

    // Even the right lease token lets another account neither renew, finish nor fail the step.
    for (const result of [
      { case: undefined },
      { case: "done" as const, value: true },
      {
        case: "failure" as const,
        value: { step: "verify", reason: "BMC_UNREACHABLE", message: "x", hostFault: false },
      },
    ])
      await expectGrpcError(
        intruder.reportTask({ taskUuid: task.uuid, leaseToken: task.leaseToken, result }),
        Code.NotFound,
        "TASK_NOT_FOUND",
        "task_uuid",
      );
    assert.equal((await nodes.getNode({ node: first.uuid })).node?.state, NodeState.VERIFYING);

    await owner.reportTask({
      taskUuid: task.uuid,
      leaseToken: task.leaseToken,
      result: { case: "done", value: true },
    });
    assert.equal((await nodes.getNode({ node: first.uuid })).node?.state, NodeState.MANAGEABLE);
    // The owner still runs the rest of its group.
    const [next] = (
      await owner.leaseTasks({ hosts: ["owner-host"], conductorGroup: "rack-a", waitSeconds: 5 })
    ).tasks;
    assert.equal(next?.node?.nodeUuid, second.uuid);
  });
});

/**
 * What the control-level bare-metal tests share: the lab (region "lab", the conductor's host, a
 * disk image "os", an executor token for the conductor), the conductor played through
 * ExecutorService, and a node walked to AVAILABLE (verify, inspect, clean) as its conductor.
 */
import assert from "node:assert/strict";
import {
  ExecutorService,
  ImageService,
  type Task,
  TaskKind,
} from "../src/gen/mulligan/control/v1/control_pb.js";
import {
  BmcDriver,
  type Node,
  NodeService,
  NodeState,
  PowerState,
} from "../src/gen/mulligan/control/v1/node_pb.js";
import { ResourceService } from "../src/gen/mulligan/resource/v1/resource_pb.js";
import type { TestServer } from "./harness.js";

/** A task's result: done. */
export const done = { case: "done" as const, value: true };

/** Creates the lab and returns the conductor's token. */
export async function setupLab(s: TestServer, imageSha256: string): Promise<string> {
  await s.meta().createRegion({ name: "lab" });
  await s.client(ResourceService).createProvider({ name: "conductor-host", region: "lab" });
  await s.client(ImageService).registerImage({
    name: "os",
    source: { case: "disk", value: { source: "/srv/os.raw", format: 2, sha256: imageSha256 } },
  });
  return s.tokenFor({ role: "executor", project: null, kind: "executor" });
}

/** The conductor of group "default" on "conductor-host", played with the token `token()`. */
export function conductorPlayer(server: () => TestServer, token: () => string) {
  const executor = () => server().client(ExecutorService, token());
  const poll = async (waitSeconds = 1) =>
    (
      await executor().leaseTasks({
        hosts: ["conductor-host"],
        conductorGroup: "default",
        waitSeconds,
      })
    ).tasks;
  /** Leases the next task, which must be of `kind`. */
  const lease = async (kind: TaskKind): Promise<Task> => {
    const t = (await poll(5))[0];
    assert.ok(t, `no task (wanted ${TaskKind[kind]})`);
    assert.equal(TaskKind[t.kind], TaskKind[kind]);
    return t;
  };
  const report = (t: Task, r: Record<string, unknown>) =>
    executor().reportTask({ taskUuid: t.uuid, leaseToken: t.leaseToken, ...r });
  return { poll, lease, report };
}

/**
 * Enrolls node `name` (flavor small, IPMI) and walks it to AVAILABLE as its conductor: verify
 * reads the power OFF, inspect finds 1 CPU, 512 MiB and a 1 GiB disk, clean reports `cleanPower`.
 */
export async function availableNode(
  server: () => TestServer,
  conductor: ReturnType<typeof conductorPlayer>,
  name: string,
  mac: string,
  cleanPower?: PowerState,
): Promise<Node> {
  const nodes = server().client(NodeService);
  const { lease, report } = conductor;
  await nodes.enrollNode({
    name,
    region: "lab",
    bmc: { driver: BmcDriver.IPMI, address: "127.0.0.1", username: "u", password: "p" },
    bootMacs: [mac],
    flavor: "small",
  });
  await report(await lease(TaskKind.VERIFY_NODE), { result: done, powerState: PowerState.OFF });
  await nodes.inspectNode({ node: name });
  await report(await lease(TaskKind.INSPECT_NODE), {
    result: done,
    inventory: { cpus: 1, memoryMb: 512n, disks: [{ name: "vda", sizeBytes: 1n << 30n }] },
  });
  await nodes.cleanNode({ node: name });
  await report(await lease(TaskKind.CLEAN_NODE), {
    result: done,
    ...(cleanPower === undefined ? {} : { powerState: cleanPower }),
  });
  const n = (await nodes.getNode({ node: name })).node as Node;
  assert.equal(n.state, NodeState.AVAILABLE);
  return n;
}

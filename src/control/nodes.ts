/**
 * Bare-metal nodes as operators see them (NodeService's domain). Nodes are fleet objects:
 * global admins and operators change them, fleet readers read them; a project-bound role sees
 * none. Every requested step is a state change plus a task for the node's conductor, written in
 * one transaction; the node's provider in ResourceService follows its record (node-provider.ts).
 * The BMC password is sealed before it is stored and never leaves through this API.
 */
import type { Caller } from "../platform/caller.js";
import { MulliganError } from "../platform/errors.js";
import { newUuid, nowIso } from "../platform/ids.js";
import { pageOf } from "../platform/paging.js";
import { managesFleet, type Principal, seesFleet } from "../platform/principal.js";
import { idempotent } from "../store/request-log.js";
import { RetryTransaction } from "../store/store.js";
import { type ControlDeps, requestKey } from "./deps.js";
import type { TaskKind } from "./model.js";
import { assertNodeCan, isBusy, STEP_POWER, STEP_TARGET } from "./node-lifecycle.js";
import type { BmcInfo, Node, NodeState, NodeTaskPayload } from "./node-model.js";
import * as nodeRepo from "./node-repo.js";

/** A decoded EnrollNode request. */
export interface EnrollNodeInput {
  requestId?: string;
  name: string;
  region: string;
  bmc: BmcInfo;
  password: string;
  bootMacs: string[];
  flavor: string;
  properties: Record<string, string>;
  conductorGroup: string;
}

/** A node step requested by an operator. */
export interface NodeStepInput {
  requestId?: string;
  node: string;
}

function mustRead(p: Principal): void {
  if (!seesFleet(p))
    throw MulliganError.permissionDenied(
      "FLEET_ROLE_REQUIRED",
      "nodes are fleet objects: reading them needs a global admin, operator or reader role",
    );
}

function mustManage(p: Principal): void {
  if (!managesFleet(p))
    throw MulliganError.permissionDenied(
      "FLEET_ROLE_REQUIRED",
      "changing nodes needs a global admin or operator role",
    );
}

async function mustFind(deps: ControlDeps, ref: string): Promise<Node> {
  const n = await nodeRepo.findNode(deps.store.db, ref);
  if (!n) throw MulliganError.notFound("node", ref, "node");
  return n;
}

/** Publishes the node's provider as its record now says; a failure is logged and retried later. */
export async function syncProvider(deps: ControlDeps, uuid: string): Promise<void> {
  const n = await nodeRepo.getNode(deps.store.db, uuid);
  if (!n) return;
  try {
    await deps.nodeProviders.sync(n);
  } catch (err) {
    deps.logger.warn({ err, node: uuid }, "cannot publish the node's provider");
  }
}

/**
 * Publishes every node's provider again: a sync that failed after a commit (resource briefly
 * unavailable) is repaired by the next sweep, so a node's capacity never stays wrong.
 */
export async function syncAllProviders(deps: ControlDeps): Promise<void> {
  let after: { k: string; u: string } | undefined;
  for (;;) {
    const page = await nodeRepo.listNodes(deps.store.db, {
      ...(after ? { after } : {}),
      limit: 100,
    });
    for (const n of page) await syncProvider(deps, n.uuid);
    const last = page.at(-1);
    if (!last || page.length < 100) return;
    after = { k: last.name, u: last.uuid };
  }
}

/**
 * Records the node and starts verifying its BMC (ENROLLED → VERIFYING with a VERIFY_NODE task);
 * its provider is created in ResourceService, empty until inspection.
 */
export async function enrollNode(
  deps: ControlDeps,
  caller: Caller,
  input: EnrollNodeInput,
): Promise<Node> {
  const p = caller.principal;
  mustManage(p);
  const { store } = deps;
  const region = await deps.regions.findRegion(caller, input.region);
  if (!region) throw MulliganError.notFound("region", input.region, "region");
  const uuid = await store.transaction((tx) =>
    idempotent(store, tx, requestKey("EnrollNode", p, input), async () => {
      const now = nowIso();
      const node: Node = {
        uuid: newUuid(),
        name: input.name,
        regionUuid: region.uuid,
        regionName: region.name,
        state: "ENROLLED",
        targetState: "",
        failedState: "",
        lastError: null,
        powerState: "",
        targetPowerState: "",
        powerCheckedAt: now,
        powerSyncFailures: 0,
        maintenance: false,
        maintenanceReason: "",
        inventory: null,
        resourceClass: `CUSTOM_BAREMETAL_${input.flavor}`,
        bmc: input.bmc,
        bootMacs: input.bootMacs,
        properties: input.properties,
        conductorGroup: input.conductorGroup,
        machineUuid: "",
        message: "enrolled",
        createdAt: now,
        updatedAt: now,
      };
      try {
        await nodeRepo.insertNode(tx, node, deps.credentials.seal(input.password, node.uuid));
      } catch (err) {
        if (store.isUniqueViolation(err)) throw MulliganError.alreadyExists("node", input.name);
        throw err;
      }
      await startStep(tx, node, "VERIFYING", "VERIFY_NODE", "verifying the BMC credentials", now);
      return node.uuid;
    }),
  );
  const node = await mustGet(deps, uuid);
  await deps.nodeProviders.ensure(node);
  deps.changed.notify();
  return node;
}

/**
 * Moves the node into a step state and queues the step's task for its conductor: the one place
 * a node step starts, so the node's target state and target power state are set here (and
 * cleared where the step ends, node-tasks.ts endNodeStep). A step overtakes the node's open
 * power sync (cancelled: its read would race the step's power changes).
 */
export async function startStep(
  tx: Parameters<typeof nodeRepo.getNode>[0],
  node: Node,
  to: NodeState,
  kind: TaskKind,
  message: string,
  at: string,
  machineUuid = node.machineUuid,
  payload: Omit<NodeTaskPayload, "nodeUuid"> = {},
): Promise<void> {
  const moved = await nodeRepo.transitionNode(tx, node, to, {
    targetState: STEP_TARGET[to] ?? "",
    targetPowerState: STEP_POWER[kind] ?? "",
    machineUuid,
    message,
    at,
  });
  if (!moved) throw new RetryTransaction("the node moved on meanwhile");
  await nodeRepo.cancelOpenSyncs(tx, node.uuid, at);
  await nodeRepo.insertNodeTask(
    tx,
    { uuid: newUuid(), kind, machineUuid, payload: { ...payload, nodeUuid: node.uuid } },
    at,
  );
}

async function mustGet(deps: ControlDeps, uuid: string): Promise<Node> {
  const n = await nodeRepo.getNode(deps.store.db, uuid);
  if (!n) throw new MulliganError("INTERNAL", "NODE_VANISHED", `node ${uuid} vanished`);
  return n;
}

export async function getNode(deps: ControlDeps, p: Principal, ref: string): Promise<Node> {
  mustRead(p);
  return mustFind(deps, ref);
}

export interface ListNodesInput {
  pageSize: number;
  after: { k: string; u: string } | undefined;
  state?: NodeState;
}

export async function listNodes(deps: ControlDeps, p: Principal, input: ListNodesInput) {
  mustRead(p);
  const rows = await nodeRepo.listNodes(deps.store.db, {
    ...(input.state ? { state: input.state } : {}),
    ...(input.after ? { after: input.after } : {}),
    limit: input.pageSize + 1,
  });
  return pageOf(rows, input.pageSize, (n) => ({ k: n.name, u: n.uuid }));
}

/** Runs one operator-requested step (inspect or clean) on a node that allows it. */
async function requestStep(
  deps: ControlDeps,
  p: Principal,
  method: string,
  input: NodeStepInput,
  step: { to: NodeState; kind: TaskKind; message: string },
): Promise<Node> {
  mustManage(p);
  const { store } = deps;
  const found = await mustFind(deps, input.node);
  await store.transaction((tx) =>
    idempotent(store, tx, requestKey(method, p, input), async () => {
      const n = await nodeRepo.getNode(tx, found.uuid);
      if (!n) throw MulliganError.notFound("node", input.node, "node");
      if (n.maintenance)
        throw MulliganError.failedPrecondition(
          "NODE_IN_MAINTENANCE",
          `node ${n.name} is in maintenance (${n.maintenanceReason}); turn it off first`,
        );
      assertNodeCan(n, step.to);
      // A deploy that failed leaves its machine behind: cleaning frees the node of it.
      await startStep(tx, n, step.to, step.kind, step.message, nowIso(), "");
      return n.uuid;
    }),
  );
  await syncProvider(deps, found.uuid);
  deps.changed.notify();
  return mustGet(deps, found.uuid);
}

/** Boots the agent and records the hardware (→ INSPECTING). */
export function inspectNode(deps: ControlDeps, p: Principal, input: NodeStepInput) {
  return requestStep(deps, p, "InspectNode", input, {
    to: "INSPECTING",
    kind: "INSPECT_NODE",
    message: "inspecting the hardware",
  });
}

/** Erases the disks, then the node is AVAILABLE (→ CLEANING). */
export function cleanNode(deps: ControlDeps, p: Principal, input: NodeStepInput) {
  return requestStep(deps, p, "CleanNode", input, {
    to: "CLEANING",
    kind: "CLEAN_NODE",
    message: "erasing the disks",
  });
}

/**
 * Turns maintenance on (with a reason) or off; the node's capacity follows. While it is on, the
 * node's tasks are held (repo.ts notHeld): none is leased or goes overdue, so nothing automatic
 * acts on the node; they go on when it ends.
 */
export async function setMaintenance(
  deps: ControlDeps,
  p: Principal,
  input: NodeStepInput & { maintenance: boolean; reason: string },
): Promise<Node> {
  mustManage(p);
  const { store } = deps;
  const found = await mustFind(deps, input.node);
  await store.transaction((tx) =>
    idempotent(store, tx, requestKey("SetMaintenance", p, input), async () => {
      const at = nowIso();
      await nodeRepo.updateNode(
        tx,
        found.uuid,
        {
          maintenance: input.maintenance,
          maintenanceReason: input.maintenance ? input.reason : "",
          message: input.maintenance ? `maintenance: ${input.reason}` : "maintenance ended",
        },
        at,
      );
      // The node's held tasks are free to go: their deadline counts from now.
      if (!input.maintenance) await nodeRepo.touchOpenTasks(tx, found.uuid, at);
      return found.uuid;
    }),
  );
  await syncProvider(deps, found.uuid);
  deps.changed.notify();
  return mustGet(deps, found.uuid);
}

/** Deletes an idle node without a machine, and its provider. */
export async function deleteNode(deps: ControlDeps, p: Principal, input: NodeStepInput) {
  mustManage(p);
  const { store } = deps;
  const found = await mustFind(deps, input.node);
  if (found.machineUuid !== "" || found.state === "ACTIVE" || found.state === "DEPLOYING")
    throw MulliganError.failedPrecondition(
      "NODE_IN_USE",
      `node ${found.name} runs machine ${found.machineUuid || "(deploying)"}; decommission it first`,
    );
  if (isBusy(found.state))
    throw MulliganError.failedPrecondition(
      "NODE_BUSY",
      `node ${found.name} is ${found.state}; wait for the step to end`,
    );
  await deps.nodeProviders.remove(found);
  await store.transaction((tx) =>
    idempotent(store, tx, requestKey("DeleteNode", p, input), async () => {
      await nodeRepo.deleteNode(tx, found.uuid);
      return null;
    }),
  );
}

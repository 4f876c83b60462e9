/**
 * The only code that touches control_nodes (and writes node tasks into control_tasks). Rows
 * map to the plain records of node-model.ts; every state change is a compare-and-swap on the
 * state, checked against the node lifecycle.
 */
import type { Kysely } from "kysely";
import type { PageKey } from "../platform/paging.js";
import type { Database } from "../store/database.js";
import { afterKey } from "../store/keyset.js";
import type { TaskKind } from "./model.js";
import { assertNodeTransition } from "./node-lifecycle.js";
import type {
  Node,
  NodeError,
  NodeInventory,
  NodeState,
  NodeTaskPayload,
  PowerState,
} from "./node-model.js";

type Db = Kysely<Database>;
type NodeRow = Database["control_nodes"];

function nodeOf(r: NodeRow): Node {
  return {
    uuid: r.uuid,
    name: r.name,
    regionUuid: r.region_uuid,
    regionName: r.region_name,
    state: r.state as NodeState,
    targetState: r.target_state as Node["targetState"],
    failedState: r.failed_state as Node["failedState"],
    lastError: JSON.parse(r.last_error),
    powerState: r.power_state as PowerState,
    targetPowerState: r.target_power_state as PowerState,
    powerCheckedAt: r.power_checked_at,
    powerSyncFailures: Number(r.power_sync_failures),
    maintenance: Number(r.maintenance) === 1,
    maintenanceReason: r.maintenance_reason,
    inventory: inventoryOf(r.inventory),
    resourceClass: r.resource_class,
    bmc: JSON.parse(r.bmc),
    bootMacs: JSON.parse(r.boot_macs),
    properties: JSON.parse(r.properties),
    conductorGroup: r.conductor_group,
    machineUuid: r.machine_uuid,
    message: r.message,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** A new node with its sealed BMC password. */
export async function insertNode(db: Db, n: Node, sealedPassword: string): Promise<void> {
  await db
    .insertInto("control_nodes")
    .values({
      uuid: n.uuid,
      name: n.name,
      region_uuid: n.regionUuid,
      region_name: n.regionName,
      state: n.state,
      target_state: n.targetState,
      failed_state: n.failedState,
      last_error: JSON.stringify(n.lastError),
      power_state: n.powerState,
      target_power_state: n.targetPowerState,
      power_checked_at: n.powerCheckedAt,
      power_sync_failures: n.powerSyncFailures,
      maintenance: n.maintenance ? 1 : 0,
      maintenance_reason: n.maintenanceReason,
      inventory: JSON.stringify(n.inventory),
      resource_class: n.resourceClass,
      bmc: JSON.stringify(n.bmc),
      bmc_secret: sealedPassword,
      boot_macs: JSON.stringify(n.bootMacs),
      properties: JSON.stringify(n.properties),
      conductor_group: n.conductorGroup,
      machine_uuid: n.machineUuid,
      message: n.message,
      created_at: n.createdAt,
      updated_at: n.updatedAt,
    })
    .execute();
}

export async function getNode(db: Db, uuid: string): Promise<Node | undefined> {
  const r = await db
    .selectFrom("control_nodes")
    .selectAll()
    .where("uuid", "=", uuid)
    .executeTakeFirst();
  return r && nodeOf(r);
}

/** A node by UUID or name. */
export async function findNode(db: Db, ref: string): Promise<Node | undefined> {
  const r = await db
    .selectFrom("control_nodes")
    .selectAll()
    .where((eb) => eb.or([eb("uuid", "=", ref.toLowerCase()), eb("name", "=", ref)]))
    .executeTakeFirst();
  return r && nodeOf(r);
}

/** The sealed BMC password of a node (opened only to hand a task to its conductor). */
export async function sealedPassword(db: Db, uuid: string): Promise<string> {
  const r = await db
    .selectFrom("control_nodes")
    .select("bmc_secret")
    .where("uuid", "=", uuid)
    .executeTakeFirstOrThrow();
  return r.bmc_secret;
}

export async function listNodes(
  db: Db,
  filter: { state?: NodeState; after?: PageKey; limit: number },
): Promise<Node[]> {
  let q = db.selectFrom("control_nodes").selectAll();
  if (filter.state) q = q.where("state", "=", filter.state);
  if (filter.after) q = q.where(afterKey("name", "uuid", filter.after));
  const rows = await q.orderBy("name").orderBy("uuid").limit(filter.limit).execute();
  return rows.map(nodeOf);
}

/** The nodes a conductor group runs: UUIDs, and whether each is in maintenance. */
export async function nodesOfGroup(
  db: Db,
  group: string,
): Promise<{ uuid: string; maintenance: boolean }[]> {
  const rows = await db
    .selectFrom("control_nodes")
    .select(["uuid", "maintenance"])
    .where("conductor_group", "=", group)
    .execute();
  return rows.map((r) => ({ uuid: r.uuid, maintenance: Number(r.maintenance) === 1 }));
}

/**
 * Restarts the task deadline of the node's open tasks (they were held while the node was in
 * maintenance, so no executor could work on them).
 */
export async function touchOpenTasks(db: Db, nodeUuid: string, at: string): Promise<void> {
  await db
    .updateTable("control_tasks")
    .set({ updated_at: at })
    .where("node_uuid", "=", nodeUuid)
    .where("state", "in", ["ready", "leased"])
    .execute();
}

/** Fields a state change may set besides the state. */
export interface NodeChange {
  targetState?: Node["targetState"];
  targetPowerState?: PowerState;
  failedState?: Node["failedState"];
  lastError?: NodeError | null;
  machineUuid?: string;
  inventory?: Node["inventory"];
  message: string;
  at: string;
}

/** Moves a node from its state to `to`; false when it is no longer in that state. */
export async function transitionNode(
  db: Db,
  n: Node,
  to: NodeState,
  change: NodeChange,
): Promise<boolean> {
  assertNodeTransition(n.state, to);
  const set: Partial<NodeRow> = { state: to, message: change.message, updated_at: change.at };
  if (change.targetState !== undefined) set.target_state = change.targetState;
  if (change.targetPowerState !== undefined) set.target_power_state = change.targetPowerState;
  if (change.failedState !== undefined) set.failed_state = change.failedState;
  if (change.lastError !== undefined) set.last_error = JSON.stringify(change.lastError);
  if (change.machineUuid !== undefined) set.machine_uuid = change.machineUuid;
  if (change.inventory !== undefined) set.inventory = JSON.stringify(change.inventory);
  const done = await db
    .updateTable("control_nodes")
    .set(set)
    .where("uuid", "=", n.uuid)
    .where("state", "=", n.state)
    .executeTakeFirst();
  return Number(done.numUpdatedRows) === 1;
}

/** Fields that change without a state change. */
export async function updateNode(
  db: Db,
  uuid: string,
  set: Partial<
    Pick<
      Node,
      | "message"
      | "maintenance"
      | "maintenanceReason"
      | "powerState"
      | "targetPowerState"
      | "powerCheckedAt"
      | "powerSyncFailures"
      | "inventory"
    >
  >,
  at: string,
): Promise<void> {
  const row: Partial<NodeRow> = { updated_at: at };
  if (set.message !== undefined) row.message = set.message;
  if (set.maintenance !== undefined) row.maintenance = set.maintenance ? 1 : 0;
  if (set.maintenanceReason !== undefined) row.maintenance_reason = set.maintenanceReason;
  if (set.powerState !== undefined) row.power_state = set.powerState;
  if (set.targetPowerState !== undefined) row.target_power_state = set.targetPowerState;
  if (set.powerCheckedAt !== undefined) row.power_checked_at = set.powerCheckedAt;
  if (set.powerSyncFailures !== undefined) row.power_sync_failures = set.powerSyncFailures;
  if (set.inventory !== undefined) row.inventory = JSON.stringify(set.inventory);
  await db.updateTable("control_nodes").set(row).where("uuid", "=", uuid).execute();
}

export async function deleteNode(db: Db, uuid: string): Promise<void> {
  await db.deleteFrom("control_nodes").where("uuid", "=", uuid).execute();
}

/** Queues a node task for the node's conductor, in the caller's transaction. */
export async function insertNodeTask(
  db: Db,
  t: { uuid: string; kind: TaskKind; machineUuid: string; payload: NodeTaskPayload },
  at: string,
): Promise<void> {
  await db
    .insertInto("control_tasks")
    .values({
      uuid: t.uuid,
      machine_uuid: t.machineUuid,
      kind: t.kind,
      // A node's tasks are leased by naming the node (its provider has the node's UUID).
      host_uuid: t.payload.nodeUuid,
      node_uuid: t.payload.nodeUuid,
      state: "ready",
      payload: JSON.stringify({ node: t.payload }),
      lease_token: "",
      lease_until: "",
      deliveries: 0,
      created_at: at,
      updated_at: at,
    })
    .execute();
}

/** A stored inventory; one recorded before capabilities were reported has none. */
function inventoryOf(json: string): NodeInventory | null {
  const inv = JSON.parse(json) as NodeInventory | null;
  return inv && { ...inv, capabilities: inv.capabilities ?? [] };
}

/**
 * Nodes whose power sync is due: in one of `states`, not in maintenance, without an open task
 * (a node task is queued under the node's UUID as its host, hence host_uuid), and last checked
 * before `before` — the longest unchecked first.
 */
export async function powerSyncDue(
  db: Db,
  states: readonly NodeState[],
  before: string,
  limit: number,
): Promise<Node[]> {
  const rows = await db
    .selectFrom("control_nodes as n")
    .selectAll("n")
    .where("n.state", "in", states)
    .where("n.maintenance", "=", 0)
    .where("n.power_checked_at", "<", before)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom("control_tasks as t")
            .select("t.uuid")
            .whereRef("t.host_uuid", "=", "n.uuid")
            .where("t.state", "in", ["ready", "leased"]),
        ),
      ),
    )
    .orderBy("n.power_checked_at")
    .limit(limit)
    .execute();
  return rows.map(nodeOf);
}

/**
 * Marks the node's power as being checked now if it is still as the caller saw it (same state,
 * same last check, not in maintenance): the compare-and-swap that lets one control replica
 * queue a node's sync.
 */
export async function takePowerCheck(db: Db, n: Node, at: string): Promise<boolean> {
  const done = await db
    .updateTable("control_nodes")
    .set({ power_checked_at: at })
    .where("uuid", "=", n.uuid)
    .where("state", "=", n.state)
    .where("power_checked_at", "=", n.powerCheckedAt)
    .where("maintenance", "=", 0)
    .executeTakeFirst();
  return Number(done.numUpdatedRows) === 1;
}

/** Removes the node's ended power syncs (their outcome is on the node; one row per node stays). */
export async function deleteEndedSyncs(db: Db, nodeUuid: string): Promise<void> {
  await db
    .deleteFrom("control_tasks")
    .where("host_uuid", "=", nodeUuid)
    .where("kind", "=", "SYNC_POWER")
    .where("state", "not in", ["ready", "leased"])
    .execute();
}

/** Cancels the node's open power sync (a step overtakes it). */
export async function cancelOpenSyncs(db: Db, nodeUuid: string, at: string): Promise<void> {
  await db
    .updateTable("control_tasks")
    .set({ state: "cancelled", updated_at: at })
    .where("host_uuid", "=", nodeUuid)
    .where("kind", "=", "SYNC_POWER")
    .where("state", "in", ["ready", "leased"])
    .execute();
}

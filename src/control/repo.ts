/**
 * The only code that touches the control part's tables. Rows are mapped to the plain records
 * of model.ts here; every state change of a machine appends its event in the same transaction.
 */
import type { ExpressionBuilder, Kysely } from "kysely";
import type { PageKey } from "../platform/paging.js";
import type { Database } from "../store/database.js";
import { afterKey } from "../store/keyset.js";
import { assertTransition } from "./lifecycle.js";
import type {
  Image,
  ImageSource,
  Machine,
  MachineEvent,
  MachineState,
  Task,
  TaskKind,
  TaskState,
} from "./model.js";
import type { OwnedScope } from "./tables.js";

type Db = Kysely<Database>;
type MachineRow = Database["control_machines"];
type TaskRow = Database["control_tasks"];

function machineOf(r: MachineRow): Machine {
  return {
    uuid: r.uuid,
    name: r.name,
    projectUuid: r.project_uuid,
    projectName: r.project_name,
    ownerUuid: r.owner_uuid,
    regionUuid: r.region_uuid,
    regionName: r.region_name,
    kind: r.kind as Machine["kind"],
    state: r.state as MachineState,
    failedStep: r.failed_step,
    reason: r.reason,
    message: r.message,
    imageUuid: r.image_uuid,
    imageName: r.image_name,
    hostUuid: r.host_uuid,
    hostName: r.host_name,
    spec: { distance: [], ...JSON.parse(r.spec) },
    allocations: JSON.parse(r.allocations),
    attempts: JSON.parse(r.attempts),
    powerState: r.power_state as Machine["powerState"],
    powerStateAt: r.power_state_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** A new machine, PENDING, with its first event. */
export async function insertMachine(db: Db, m: Machine, message: string): Promise<void> {
  await db
    .insertInto("control_machines")
    .values({
      uuid: m.uuid,
      name: m.name,
      live_name: m.name,
      project_uuid: m.projectUuid,
      project_name: m.projectName,
      owner_uuid: m.ownerUuid,
      region_uuid: m.regionUuid,
      region_name: m.regionName,
      kind: m.kind,
      state: m.state,
      failed_step: "",
      reason: "",
      message,
      image_uuid: m.imageUuid,
      image_name: m.imageName,
      host_uuid: "",
      host_name: "",
      spec: JSON.stringify(m.spec),
      allocations: "[]",
      attempts: "[]",
      schedule_until: "",
      event_seq: 1,
      power_state: m.powerState,
      power_state_at: m.powerStateAt,
      created_at: m.createdAt,
      updated_at: m.createdAt,
    })
    .execute();
  await db
    .insertInto("control_machine_events")
    .values({
      machine_uuid: m.uuid,
      seq: 1,
      at: m.createdAt,
      state: m.state,
      step: "accept",
      message,
      reason: "",
    })
    .execute();
}

export async function getMachine(db: Db, uuid: string): Promise<Machine | undefined> {
  const r = await db
    .selectFrom("control_machines")
    .selectAll()
    .where("uuid", "=", uuid)
    .executeTakeFirst();
  return r && machineOf(r);
}

/** A machine by UUID, or by name among the live machines of the given projects. */
export async function findMachine(
  db: Db,
  ref: string,
  projects: readonly string[] | null,
): Promise<Machine | undefined> {
  let q = db.selectFrom("control_machines").selectAll();
  q = q.where((eb) => eb.or([eb("uuid", "=", ref.toLowerCase()), eb("live_name", "=", ref)]));
  if (projects) q = q.where("project_uuid", "in", projects.length ? projects : [""]);
  const rows = await q.limit(2).execute();
  const byUuid = rows.find((r) => r.uuid === ref.toLowerCase());
  const r = byUuid ?? (rows.length === 1 ? rows[0] : undefined);
  return r && machineOf(r);
}

/** Machines by name order for a List page. */
export async function listMachines(
  db: Db,
  filter: {
    projects: readonly string[] | null;
    state?: MachineState;
    showDeleted: boolean;
    after?: PageKey;
    limit: number;
  },
): Promise<Machine[]> {
  let q = db.selectFrom("control_machines").selectAll();
  if (filter.projects) q = q.where("project_uuid", "in", [...filter.projects, ""]);
  if (filter.state) q = q.where("state", "=", filter.state);
  else if (!filter.showDeleted) q = q.where("state", "!=", "DELETED");
  if (filter.after) q = q.where(afterKey("name", "uuid", filter.after));
  const rows = await q.orderBy("name").orderBy("uuid").limit(filter.limit).execute();
  return rows.map(machineOf);
}

/** Fields a state change may set besides the state. */
export type MachineChange = Partial<
  Pick<
    Machine,
    "failedStep" | "reason" | "message" | "hostUuid" | "hostName" | "allocations" | "attempts"
  >
> & { scheduleUntil?: string };

/**
 * Moves a machine from `from` to `to` (checked against the lifecycle) and appends the event;
 * returns false when the machine is no longer in `from` (someone else moved it first).
 */
export async function transition(
  db: Db,
  m: Machine,
  to: MachineState,
  change: MachineChange & { step: string; at: string },
): Promise<boolean> {
  assertTransition(m.state, to);
  const set: Partial<MachineRow> = { state: to, updated_at: change.at };
  if (change.failedStep !== undefined) set.failed_step = change.failedStep;
  if (change.reason !== undefined) set.reason = change.reason;
  if (change.message !== undefined) set.message = change.message;
  if (change.hostUuid !== undefined) set.host_uuid = change.hostUuid;
  if (change.hostName !== undefined) set.host_name = change.hostName;
  if (change.allocations !== undefined) set.allocations = JSON.stringify(change.allocations);
  if (change.attempts !== undefined) set.attempts = JSON.stringify(change.attempts);
  if (change.scheduleUntil !== undefined) set.schedule_until = change.scheduleUntil;
  if (to === "DELETED") set.live_name = m.uuid;
  const done = await db
    .updateTable("control_machines")
    .set((eb) => ({ ...set, event_seq: eb("event_seq", "+", 1) }))
    .where("uuid", "=", m.uuid)
    .where("state", "=", m.state)
    .executeTakeFirst();
  if (Number(done.numUpdatedRows) !== 1) return false;
  await appendEvent(db, m.uuid, {
    state: to,
    step: change.step,
    message: change.message ?? "",
    reason: change.reason ?? "",
    at: change.at,
  });
  return true;
}

/** Records a progress step of a machine without a state change. */
export async function progress(
  db: Db,
  uuid: string,
  state: MachineState,
  step: string,
  message: string,
  at: string,
): Promise<void> {
  const done = await db
    .updateTable("control_machines")
    .set((eb) => ({ message, updated_at: at, event_seq: eb("event_seq", "+", 1) }))
    .where("uuid", "=", uuid)
    .where("state", "=", state)
    .executeTakeFirst();
  if (Number(done.numUpdatedRows) === 1)
    await appendEvent(db, uuid, { state, step, message, reason: "", at });
}

/**
 * Records an observed power state when it is newer than the recorded one (compare-and-swap on
 * the observation time), appending `event` when the power changed. False when stale.
 */
export async function recordPower(
  db: Db,
  m: Machine,
  power: Machine["powerState"],
  observedAt: string,
  event: { message: string; at: string } | null,
): Promise<boolean> {
  const done = await db
    .updateTable("control_machines")
    .set((eb) => ({
      power_state: power,
      power_state_at: observedAt,
      ...(event ? { updated_at: event.at, event_seq: eb("event_seq", "+", 1) } : {}),
    }))
    .where("uuid", "=", m.uuid)
    .where("power_state_at", "=", m.powerStateAt)
    .executeTakeFirst();
  if (Number(done.numUpdatedRows) !== 1) return false;
  if (event) await appendEvent(db, m.uuid, { state: m.state, step: "power", reason: "", ...event });
  return true;
}

async function appendEvent(db: Db, uuid: string, e: Omit<MachineEvent, "seq">): Promise<void> {
  const row = await db
    .selectFrom("control_machines")
    .select("event_seq")
    .where("uuid", "=", uuid)
    .executeTakeFirstOrThrow();
  await db
    .insertInto("control_machine_events")
    .values({ machine_uuid: uuid, seq: row.event_seq, ...e })
    .execute();
}

/** The events of a machine after `afterSeq`, oldest first. */
export async function eventsAfter(db: Db, uuid: string, afterSeq: number): Promise<MachineEvent[]> {
  const rows = await db
    .selectFrom("control_machine_events")
    .selectAll()
    .where("machine_uuid", "=", uuid)
    .where("seq", ">", afterSeq)
    .orderBy("seq")
    .execute();
  return rows.map((r) => ({
    seq: Number(r.seq),
    at: r.at,
    state: r.state as MachineState,
    step: r.step,
    message: r.message,
    reason: r.reason,
  }));
}

/**
 * Takes the scheduling of one machine: PENDING, or SCHEDULING whose scheduler's hold has
 * expired (its process died). Returns the machines taken.
 */
export async function schedulable(db: Db, now: string, limit: number): Promise<Machine[]> {
  const rows = await db
    .selectFrom("control_machines")
    .selectAll()
    .where((eb) =>
      eb.or([
        eb("state", "=", "PENDING"),
        eb.and([eb("state", "=", "SCHEDULING"), eb("schedule_until", "<", now)]),
      ]),
    )
    .orderBy("created_at")
    .limit(limit)
    .execute();
  return rows.map(machineOf);
}

/** Extends (or takes over) the scheduler's hold on a SCHEDULING machine. */
export async function holdScheduling(db: Db, uuid: string, now: string, until: string) {
  const done = await db
    .updateTable("control_machines")
    .set({ schedule_until: until })
    .where("uuid", "=", uuid)
    .where("state", "=", "SCHEDULING")
    .where("schedule_until", "<", now)
    .executeTakeFirst();
  return Number(done.numUpdatedRows) === 1;
}

function imageOf(r: Database["control_images"]): Image {
  return {
    uuid: r.uuid,
    name: r.name,
    projectUuid: r.project_uuid,
    source: JSON.parse(r.source) as ImageSource,
    bootMarker: r.boot_marker,
    createdAt: r.created_at,
  };
}

export async function insertImage(db: Db, i: Image): Promise<void> {
  await db
    .insertInto("control_images")
    .values({
      uuid: i.uuid,
      name: i.name,
      project_uuid: i.projectUuid,
      source: JSON.stringify(i.source),
      boot_marker: i.bootMarker,
      created_at: i.createdAt,
    })
    .execute();
}

/** An image by UUID or name, among fleet images and those of the given projects (null: all). */
export async function findImage(
  db: Db,
  ref: string,
  projects: readonly string[] | null,
): Promise<Image | undefined> {
  let q = db
    .selectFrom("control_images")
    .selectAll()
    .where((eb) => eb.or([eb("uuid", "=", ref.toLowerCase()), eb("name", "=", ref)]));
  if (projects) q = q.where("project_uuid", "in", [...projects, ""]);
  const rows = await q.execute();
  // A project's own image shadows a fleet image of the same name.
  const r =
    rows.find((x) => x.uuid === ref.toLowerCase()) ??
    rows.find((x) => x.project_uuid !== "") ??
    rows[0];
  return r && imageOf(r);
}

export async function listImages(
  db: Db,
  filter: { projects: readonly string[] | null; after?: PageKey; limit: number },
): Promise<Image[]> {
  let q = db.selectFrom("control_images").selectAll();
  if (filter.projects) q = q.where("project_uuid", "in", [...filter.projects, ""]);
  if (filter.after) q = q.where(afterKey("name", "uuid", filter.after));
  const rows = await q.orderBy("name").orderBy("uuid").limit(filter.limit).execute();
  return rows.map(imageOf);
}

/** True if a machine that is not DELETED uses the image. */
export async function imageInUse(db: Db, uuid: string): Promise<boolean> {
  const r = await db
    .selectFrom("control_machines")
    .select("uuid")
    .where("image_uuid", "=", uuid)
    .where("state", "!=", "DELETED")
    .executeTakeFirst();
  return r !== undefined;
}

export async function deleteImage(db: Db, uuid: string): Promise<void> {
  await db.deleteFrom("control_images").where("uuid", "=", uuid).execute();
}

function taskOf(r: TaskRow): Task {
  const payload = JSON.parse(r.payload) as { guest?: Task["guest"]; node?: Task["node"] };
  return {
    uuid: r.uuid,
    kind: r.kind as TaskKind,
    machineUuid: r.machine_uuid,
    hostUuid: r.host_uuid,
    state: r.state as TaskState,
    guest: payload.guest ?? null,
    nodeUuid: r.node_uuid,
    node: payload.node ?? null,
    leaseToken: r.lease_token,
    leaseUntil: r.lease_until,
    deliveries: Number(r.deliveries),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Queues a task for a host (in the caller's transaction, beside the state it advances). */
export async function insertTask(
  db: Db,
  t: { uuid: string; kind: TaskKind; machineUuid: string; hostUuid: string; guest?: unknown },
  at: string,
): Promise<void> {
  await db
    .insertInto("control_tasks")
    .values({
      uuid: t.uuid,
      machine_uuid: t.machineUuid,
      kind: t.kind,
      host_uuid: t.hostUuid,
      node_uuid: "",
      state: "ready",
      payload: JSON.stringify({ guest: t.guest }),
      lease_token: "",
      lease_until: "",
      deliveries: 0,
      created_at: at,
      updated_at: at,
    })
    .execute();
}

/**
 * The tasks that are not held: a bare-metal node in maintenance holds every task of its own
 * (none is leased, none goes overdue) until maintenance ends, so nothing automatic acts on it.
 * The one filter LeaseTasks and the overdue sweep share.
 */
function notHeld(eb: ExpressionBuilder<Database, "control_tasks">) {
  return eb.or([
    eb("node_uuid", "=", ""),
    eb(
      "node_uuid",
      "not in",
      eb.selectFrom("control_nodes").select("uuid").where("maintenance", "=", 1),
    ),
  ]);
}

/**
 * Tasks of these hosts that may be leased now: ready, or leased with an expired lease, and not
 * held by maintenance.
 */
export async function leasable(
  db: Db,
  hosts: readonly string[],
  now: string,
  limit: number,
): Promise<Task[]> {
  if (hosts.length === 0) return [];
  const rows = await db
    .selectFrom("control_tasks")
    .selectAll()
    .where("host_uuid", "in", hosts)
    .where((eb) =>
      eb.or([
        eb("state", "=", "ready"),
        eb.and([eb("state", "=", "leased"), eb("lease_until", "<", now)]),
      ]),
    )
    .where(notHeld)
    .orderBy("created_at")
    .limit(limit)
    .execute();
  return rows.map(taskOf);
}

/**
 * Tasks of these nodes whose lease lapsed (their conductor died or lost them): what a
 * conductor's restart looks like from here.
 */
export async function lapsedNodeTasks(
  db: Db,
  nodes: readonly string[],
  now: string,
): Promise<Task[]> {
  if (nodes.length === 0) return [];
  const rows = await db
    .selectFrom("control_tasks")
    .selectAll()
    .where("node_uuid", "in", nodes)
    .where("state", "=", "leased")
    .where("lease_until", "<", now)
    .orderBy("created_at")
    .execute();
  return rows.map(taskOf);
}

/** Leases a task if it is still as the caller saw it (compare-and-swap on state and token). */
export async function leaseTask(
  db: Db,
  t: Task,
  token: string,
  until: string,
  now: string,
): Promise<boolean> {
  const done = await db
    .updateTable("control_tasks")
    .set({
      state: "leased",
      lease_token: token,
      lease_until: until,
      deliveries: t.deliveries + 1,
      updated_at: now,
    })
    .where("uuid", "=", t.uuid)
    .where("state", "=", t.state)
    .where("lease_token", "=", t.leaseToken)
    .executeTakeFirst();
  return Number(done.numUpdatedRows) === 1;
}

/**
 * Takes an overdue task from executors before control fails it: leases it to `token` only if
 * nobody leased, renewed or reported it since it was read as overdue (compare-and-swap on state,
 * token and `updated_at`), so a task an executor took back in the meantime is not failed, and a
 * late report on the old lease is LEASE_LOST. Returns the task as taken, or undefined.
 */
export async function takeOverdueTask(
  db: Db,
  t: Task,
  token: string,
  until: string,
  now: string,
): Promise<Task | undefined> {
  const done = await db
    .updateTable("control_tasks")
    .set({ state: "leased", lease_token: token, lease_until: until, updated_at: now })
    .where("uuid", "=", t.uuid)
    .where("state", "=", t.state)
    .where("lease_token", "=", t.leaseToken)
    .where("updated_at", "=", t.updatedAt)
    .executeTakeFirst();
  if (Number(done.numUpdatedRows) !== 1) return undefined;
  return { ...t, state: "leased", leaseToken: token, leaseUntil: until, updatedAt: now };
}

export async function getTask(db: Db, uuid: string): Promise<Task | undefined> {
  const r = await db
    .selectFrom("control_tasks")
    .selectAll()
    .where("uuid", "=", uuid)
    .executeTakeFirst();
  return r && taskOf(r);
}

/** Sets a task's state (and lease end); returns false if it was not in `from`. */
export async function updateTask(
  db: Db,
  uuid: string,
  from: readonly TaskState[],
  set: { state?: TaskState; leaseUntil?: string },
  now: string,
): Promise<boolean> {
  const done = await db
    .updateTable("control_tasks")
    .set({
      ...(set.state ? { state: set.state } : {}),
      ...(set.leaseUntil !== undefined ? { lease_until: set.leaseUntil } : {}),
      updated_at: now,
    })
    .where("uuid", "=", uuid)
    .where("state", "in", from)
    .executeTakeFirst();
  return Number(done.numUpdatedRows) === 1;
}

/**
 * Cancels a machine's open builds (a decommission overtakes them). Teardowns stay: one that
 * cleans up after a failed build must still run.
 */
export async function cancelOpenBuilds(db: Db, machineUuid: string, now: string): Promise<void> {
  await db
    .updateTable("control_tasks")
    .set({ state: "cancelled", updated_at: now })
    .where("machine_uuid", "=", machineUuid)
    .where("kind", "in", ["BUILD_VM", "DEPLOY_NODE"])
    .where("state", "in", ["ready", "leased"])
    .execute();
}

/**
 * Open tasks no executor has worked on since `before`: ready, or leased with a lapsed lease, and
 * neither leased nor renewed (every lease, report and progress sets `updated_at`) since then. A
 * task whose lease is live is never overdue, however long ago it was queued; nor is one held by
 * its node's maintenance (its clock starts again when maintenance ends).
 */
export async function overdueTasks(
  db: Db,
  before: string,
  now: string,
  limit: number,
): Promise<Task[]> {
  const rows = await db
    .selectFrom("control_tasks")
    .selectAll()
    .where((eb) =>
      eb.or([
        eb("state", "=", "ready"),
        eb.and([eb("state", "=", "leased"), eb("lease_until", "<", now)]),
      ]),
    )
    .where("updated_at", "<", before)
    .where(notHeld)
    .orderBy("updated_at")
    .limit(limit)
    .execute();
  return rows.map(taskOf);
}

export async function saveConsole(db: Db, uuid: string, text: string, at: string) {
  await db
    .insertInto("control_consoles")
    .values({ machine_uuid: uuid, text, captured_at: at })
    .onConflict((oc) => oc.column("machine_uuid").doUpdateSet({ text, captured_at: at }))
    .execute();
}

export async function getConsole(db: Db, uuid: string) {
  return db
    .selectFrom("control_consoles")
    .select(["text", "captured_at"])
    .where("machine_uuid", "=", uuid)
    .executeTakeFirst();
}

/** Binds a scope (a host or a conductor group) to an account unless bound; answers the owner. */
export async function bindScope(
  db: Db,
  kind: OwnedScope,
  scope: string,
  accountUuid: string,
  at: string,
) {
  await db
    .insertInto("control_executor_owners")
    .values({ kind, scope, account_uuid: accountUuid, created_at: at })
    .onConflict((oc) => oc.columns(["kind", "scope"]).doNothing())
    .execute();
  return (await scopeOwner(db, kind, scope)) ?? accountUuid;
}

/** The account that runs a scope's tasks, undefined while none does. */
export async function scopeOwner(
  db: Db,
  kind: OwnedScope,
  scope: string,
): Promise<string | undefined> {
  const r = await db
    .selectFrom("control_executor_owners")
    .select("account_uuid")
    .where("kind", "=", kind)
    .where("scope", "=", scope)
    .executeTakeFirst();
  return r?.account_uuid;
}

/** Machines that ended (DELETED, or ERROR without a host) since `since`, newest first. */
export async function endedSince(db: Db, since: string, limit: number): Promise<string[]> {
  const rows = await db
    .selectFrom("control_machines")
    .select("uuid")
    .where("updated_at", ">=", since)
    .where((eb) =>
      eb.or([
        eb("state", "=", "DELETED"),
        eb.and([eb("state", "=", "ERROR"), eb("host_uuid", "=", "")]),
      ]),
    )
    .orderBy("updated_at", "desc")
    .limit(limit)
    .execute();
  return rows.map((r) => r.uuid);
}

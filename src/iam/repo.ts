/**
 * The only code that touches the iam tables. Functions take a Kysely handle, so they run
 * either on the store or inside a caller's transaction. Lists use keyset pagination on
 * (name, uuid): they fetch `limit` rows, the caller passes pageSize + 1.
 */
import type { Kysely } from "kysely";
import { isUuid } from "../platform/validate.js";
import type { Database } from "../store/database.js";
import { afterKey, type Window } from "../store/keyset.js";
import type {
  IamAccountsTable,
  IamProjectsTable,
  IamRoleBindingsTable,
  IamSigningKeysTable,
} from "./tables.js";

type Db = Kysely<Database>;

/** A project row with its parent's name. */
export type ProjectRow = IamProjectsTable & { parent_name: string | null };
/** A binding row with the names of its account and project. */
export type BindingRow = IamRoleBindingsTable & {
  account_name: string;
  project_name: string | null;
};

export async function countAccounts(db: Db): Promise<number> {
  const r = await db
    .selectFrom("iam_accounts")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .executeTakeFirst();
  return Number(r?.n ?? 0);
}

export async function insertAccount(db: Db, row: IamAccountsTable): Promise<void> {
  await db.insertInto("iam_accounts").values(row).execute();
}

/** An account by UUID or name. */
export async function findAccountRow(db: Db, ref: string): Promise<IamAccountsTable | undefined> {
  const q = db.selectFrom("iam_accounts").selectAll();
  const byUuid = isUuid(ref)
    ? await q.where("uuid", "=", ref.toLowerCase()).executeTakeFirst()
    : undefined;
  return byUuid ?? (await q.where("name", "=", ref).executeTakeFirst());
}

/** Accounts by name; `within` keeps only accounts with a binding on one of those projects. */
export async function listAccountRows(
  db: Db,
  filter: { kind?: string; within?: readonly string[] },
  w: Window,
): Promise<IamAccountsTable[]> {
  if (filter.within?.length === 0) return [];
  let q = db.selectFrom("iam_accounts").selectAll();
  if (filter.kind) q = q.where("kind", "=", filter.kind);
  if (filter.within) {
    const within = filter.within;
    q = q.where("uuid", "in", (eb) =>
      eb.selectFrom("iam_role_bindings").select("account_uuid").where("project_uuid", "in", within),
    );
  }
  if (w.after) q = q.where(afterKey("name", "uuid", w.after));
  return q.orderBy("name").orderBy("uuid").limit(w.limit).execute();
}

export async function updateAccountRow(
  db: Db,
  uuid: string,
  patch: Partial<Omit<IamAccountsTable, "uuid" | "name" | "created_at">>,
): Promise<void> {
  await db.updateTable("iam_accounts").set(patch).where("uuid", "=", uuid).execute();
}

/** Deletes an account; its bindings go with it. */
export async function deleteAccountRow(db: Db, uuid: string): Promise<void> {
  await db.deleteFrom("iam_role_bindings").where("account_uuid", "=", uuid).execute();
  await db.deleteFrom("iam_accounts").where("uuid", "=", uuid).execute();
}

export async function insertProject(db: Db, row: IamProjectsTable): Promise<void> {
  await db.insertInto("iam_projects").values(row).execute();
}

function projects(db: Db) {
  return db
    .selectFrom("iam_projects as p")
    .leftJoin("iam_projects as parent", "parent.uuid", "p.parent_uuid")
    .selectAll("p")
    .select("parent.name as parent_name");
}

/** A project by UUID or name. */
export async function findProjectRow(db: Db, ref: string): Promise<ProjectRow | undefined> {
  const byUuid = isUuid(ref)
    ? await projects(db).where("p.uuid", "=", ref.toLowerCase()).executeTakeFirst()
    : undefined;
  return byUuid ?? (await projects(db).where("p.name", "=", ref).executeTakeFirst());
}

export async function projectRowsByUuid(db: Db, uuids: readonly string[]): Promise<ProjectRow[]> {
  if (uuids.length === 0) return [];
  return projects(db).where("p.uuid", "in", uuids).execute();
}

/** Projects by name, optionally only the children of `parentUuid` or only those `within`. */
export async function listProjectRows(
  db: Db,
  filter: { parentUuid?: string; within?: readonly string[] },
  w: Window,
): Promise<ProjectRow[]> {
  if (filter.within?.length === 0) return [];
  let q = projects(db);
  if (filter.parentUuid) q = q.where("p.parent_uuid", "=", filter.parentUuid);
  if (filter.within) q = q.where("p.uuid", "in", filter.within);
  if (w.after) q = q.where(afterKey("p.name", "p.uuid", w.after));
  return q.orderBy("p.name").orderBy("p.uuid").limit(w.limit).execute();
}

export async function updateProjectRow(
  db: Db,
  uuid: string,
  patch: Partial<Pick<IamProjectsTable, "description" | "updated_at">>,
): Promise<void> {
  await db.updateTable("iam_projects").set(patch).where("uuid", "=", uuid).execute();
}

export async function deleteProjectRow(db: Db, uuid: string): Promise<void> {
  await db.deleteFrom("iam_projects").where("uuid", "=", uuid).execute();
}

export async function projectHasChildren(db: Db, uuid: string): Promise<boolean> {
  const r = await db
    .selectFrom("iam_projects")
    .select("uuid")
    .where("parent_uuid", "=", uuid)
    .limit(1)
    .executeTakeFirst();
  return r !== undefined;
}

export async function projectHasBindings(db: Db, uuid: string): Promise<boolean> {
  const r = await db
    .selectFrom("iam_role_bindings")
    .select("uuid")
    .where("project_uuid", "=", uuid)
    .limit(1)
    .executeTakeFirst();
  return r !== undefined;
}

/** The project and its ancestors, nearest first. */
export async function ancestorUuids(db: Db, uuid: string): Promise<string[]> {
  const chain: string[] = [];
  let current: string | null = uuid;
  while (current && !chain.includes(current)) {
    chain.push(current);
    const row: { parent_uuid: string | null } | undefined = await db
      .selectFrom("iam_projects")
      .select("parent_uuid")
      .where("uuid", "=", current)
      .executeTakeFirst();
    current = row?.parent_uuid ?? null;
  }
  return chain;
}

/** The project and all its descendants, breadth first. */
export async function subtreeUuids(db: Db, uuid: string): Promise<string[]> {
  const all = [uuid];
  let level = [uuid];
  while (level.length > 0) {
    const children = await db
      .selectFrom("iam_projects")
      .select("uuid")
      .where("parent_uuid", "in", level)
      .execute();
    level = children.map((c) => c.uuid).filter((u) => !all.includes(u));
    all.push(...level);
  }
  return all;
}

export async function insertBinding(db: Db, row: IamRoleBindingsTable): Promise<void> {
  await db.insertInto("iam_role_bindings").values(row).execute();
}

/** Deletes one binding ('' project for global); returns how many rows went. */
export async function deleteBinding(
  db: Db,
  accountUuid: string,
  projectUuid: string,
  role: string,
): Promise<number> {
  const r = await db
    .deleteFrom("iam_role_bindings")
    .where("account_uuid", "=", accountUuid)
    .where("project_uuid", "=", projectUuid)
    .where("role", "=", role)
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}

export async function bindingsOfAccount(
  db: Db,
  accountUuid: string,
): Promise<IamRoleBindingsTable[]> {
  return db
    .selectFrom("iam_role_bindings")
    .selectAll()
    .where("account_uuid", "=", accountUuid)
    .execute();
}

/** Enabled accounts other than `except` holding a global admin binding. */
export async function countOtherGlobalAdmins(db: Db, except: string): Promise<number> {
  const r = await db
    .selectFrom("iam_role_bindings as b")
    .innerJoin("iam_accounts as a", "a.uuid", "b.account_uuid")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("b.project_uuid", "=", "")
    .where("b.role", "=", "admin")
    .where("a.disabled", "=", 0)
    .where("a.uuid", "!=", except)
    .executeTakeFirst();
  return Number(r?.n ?? 0);
}

/** Bindings ordered by account name then binding UUID (the page key). */
export async function listBindingRows(
  db: Db,
  filter: { accountUuid?: string; projectUuid?: string; within?: readonly string[] },
  w: Window,
): Promise<BindingRow[]> {
  if (filter.within?.length === 0) return [];
  let q = db
    .selectFrom("iam_role_bindings as b")
    .innerJoin("iam_accounts as a", "a.uuid", "b.account_uuid")
    .leftJoin("iam_projects as p", "p.uuid", "b.project_uuid")
    .selectAll("b")
    .select(["a.name as account_name", "p.name as project_name"]);
  if (filter.accountUuid) q = q.where("b.account_uuid", "=", filter.accountUuid);
  if (filter.projectUuid) q = q.where("b.project_uuid", "=", filter.projectUuid);
  if (filter.within) q = q.where("b.project_uuid", "in", filter.within);
  if (w.after) q = q.where(afterKey("a.name", "b.uuid", w.after));
  return q.orderBy("a.name").orderBy("b.uuid").limit(w.limit).execute();
}

export async function insertSigningKey(db: Db, row: IamSigningKeysTable): Promise<void> {
  await db.insertInto("iam_signing_keys").values(row).execute();
}

/** The newest unretired key: the one that signs new tokens. */
export async function activeSigningKey(db: Db): Promise<IamSigningKeysTable | undefined> {
  return db
    .selectFrom("iam_signing_keys")
    .selectAll()
    .where("retired_at", "is", null)
    .orderBy("created_at", "desc")
    .orderBy("kid", "desc")
    .limit(1)
    .executeTakeFirst();
}

/** Retires every active key at `now`. */
export async function retireSigningKeys(db: Db, now: string): Promise<void> {
  await db
    .updateTable("iam_signing_keys")
    .set({ retired_at: now })
    .where("retired_at", "is", null)
    .execute();
}

/** Keys still published: active, or retired after `cutoff`. */
export async function publishedSigningKeys(db: Db, cutoff: string): Promise<IamSigningKeysTable[]> {
  return db
    .selectFrom("iam_signing_keys")
    .selectAll()
    .where((eb) => eb.or([eb("retired_at", "is", null), eb("retired_at", ">", cutoff)]))
    .orderBy("created_at", "desc")
    .execute();
}

/** Drops keys retired before `cutoff` (every token they signed has expired). */
export async function dropRetiredSigningKeys(db: Db, cutoff: string): Promise<void> {
  await db.deleteFrom("iam_signing_keys").where("retired_at", "<", cutoff).execute();
}

/**
 * Which projects a caller may see and administer, and the row → domain mappings shared by the
 * domain files. Global admins, operators and readers see every project; anyone else sees only
 * the subtree of its token's project. Global admins administer everything; a project-scoped
 * admin administers only the subtree of its token's project.
 */

import type { Kysely } from "kysely";
import type { AccountKindName, Principal, RoleName } from "../platform/principal.js";
import { seesFleet } from "../platform/principal.js";
import type { Database } from "../store/database.js";
import { type IdempotencyKey, idempotencyKey } from "../store/request-log.js";
import type { Account, Project, RoleBinding } from "./model.js";
import { type BindingRow, type ProjectRow, subtreeUuids } from "./repo.js";
import type { IamAccountsTable, IamRoleBindingsTable } from "./tables.js";

/** A set of projects: all of them, or an explicit subtree (`root` is its top). */
export type Scope =
  | { all: true }
  | { all: false; root: string | null; projects: ReadonlySet<string> };

const NOTHING: Scope = { all: false, root: null, projects: new Set() };

async function subtreeScope(db: Kysely<Database>, root: string | null): Promise<Scope> {
  if (!root) return NOTHING;
  return { all: false, root, projects: new Set(await subtreeUuids(db, root)) };
}

/** Projects the caller may read. */
export async function visibleScope(db: Kysely<Database>, p: Principal): Promise<Scope> {
  return seesFleet(p) ? { all: true } : subtreeScope(db, p.projectUuid);
}

/** Projects the caller may administer (nothing for a caller without the admin role). */
export async function adminScope(db: Kysely<Database>, p: Principal): Promise<Scope> {
  if (p.globalRoles.includes("admin")) return { all: true };
  return p.projectRoles.includes("admin") ? subtreeScope(db, p.projectUuid) : NOTHING;
}

export function inScope(scope: Scope, projectUuid: string): boolean {
  return scope.all || scope.projects.has(projectUuid);
}

/** The project UUIDs to filter a list by, or undefined for no filter. */
export function scopeFilter(scope: Scope): readonly string[] | undefined {
  return scope.all ? undefined : [...scope.projects];
}

/** An admin sees an account that has at least one binding in its scope. */
export function seesAccount(scope: Scope, bindings: readonly IamRoleBindingsTable[]): boolean {
  return scope.all || bindings.some((b) => scope.projects.has(b.project_uuid));
}

/** An admin manages an account only if every binding of the account is in its scope. */
export function managesAccount(scope: Scope, bindings: readonly IamRoleBindingsTable[]): boolean {
  return (
    scope.all || (bindings.length > 0 && bindings.every((b) => scope.projects.has(b.project_uuid)))
  );
}

/** The request-log key of a mutation by `caller` (request ids are scoped per account). */
export function requestKey(
  method: string,
  accountUuid: string,
  input: { requestId?: string | undefined },
): IdempotencyKey {
  return idempotencyKey("iam_requests", method, accountUuid, input);
}

export function toAccount(row: IamAccountsTable): Account {
  return {
    uuid: row.uuid,
    name: row.name,
    kind: row.kind as AccountKindName,
    description: row.description,
    disabled: row.disabled !== 0,
    createTime: row.created_at,
    updateTime: row.updated_at,
  };
}

export function toProject(row: ProjectRow): Project {
  return {
    uuid: row.uuid,
    name: row.name,
    parentUuid: row.parent_uuid,
    parentName: row.parent_name,
    description: row.description,
    createTime: row.created_at,
    updateTime: row.updated_at,
  };
}

export function toBinding(row: BindingRow): RoleBinding {
  return {
    accountUuid: row.account_uuid,
    accountName: row.account_name,
    projectUuid: row.project_uuid || null,
    projectName: row.project_uuid ? row.project_name : null,
    role: row.role as RoleName,
    createTime: row.created_at,
  };
}

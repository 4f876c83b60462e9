/**
 * Role bindings: one role for one account on one project (and its subtree), or globally.
 * A project-scoped admin grants and revokes only on projects of its subtree; global bindings
 * are a global admin's business. The last enabled global admin binding cannot be revoked.
 */
import { MulliganError } from "../platform/errors.js";
import { newUuid, nowIso } from "../platform/ids.js";
import { type PageKey, pageOf } from "../platform/paging.js";
import type { Principal, RoleName } from "../platform/principal.js";
import { idempotent } from "../store/request-log.js";
import type { Store, Tx } from "../store/store.js";
import { accountSeenIn, refuseLastAdmin } from "./accounts.js";
import type { Page, RoleBinding } from "./model.js";
import { projectIn } from "./projects.js";
import * as repo from "./repo.js";
import { adminScope, inScope, requestKey, scopeFilter, toBinding, visibleScope } from "./scope.js";

/** A grant or revoke; project undefined means a global binding. */
export interface BindingInput {
  requestId?: string;
  account: string;
  project?: string;
  role: RoleName;
}

export interface ListRoleBindingsInput {
  pageSize: number;
  after: PageKey | undefined;
  account?: string;
  project?: string;
}

/**
 * Resolves the account (any account: an admin must be able to bring a new account into its
 * project) and the project, which the caller must administer.
 */
async function resolveTarget(tx: Tx, caller: Principal, input: BindingInput) {
  const account = await repo.findAccountRow(tx, input.account);
  if (!account) throw MulliganError.notFound("account", input.account, "account");
  const scope = await adminScope(tx, caller);
  if (input.project === undefined) {
    if (!scope.all)
      throw MulliganError.permissionDenied(
        "GLOBAL_ADMIN_REQUIRED",
        "only a global admin manages global roles",
      );
    return { account, project: undefined };
  }
  const project = await projectIn(tx, await visibleScope(tx, caller), input.project, "project");
  if (!inScope(scope, project.uuid))
    throw MulliganError.permissionDenied(
      "PROJECT_OUT_OF_SCOPE",
      `you do not administer project "${project.name}"`,
    );
  return { account, project };
}

export async function grantRole(
  store: Store,
  caller: Principal,
  input: BindingInput,
): Promise<RoleBinding> {
  return store.transaction((tx) =>
    idempotent(store, tx, requestKey("GrantRole", caller.accountUuid, input), async () => {
      const { account, project } = await resolveTarget(tx, caller, input);
      const row = {
        uuid: newUuid(),
        account_uuid: account.uuid,
        project_uuid: project?.uuid ?? "",
        role: input.role,
        created_at: nowIso(),
      };
      const existing = await repo.bindingsOfAccount(tx, account.uuid);
      const duplicate = existing.some(
        (b) => b.project_uuid === row.project_uuid && b.role === row.role,
      );
      const what = `${input.role} on ${project ? `project ${project.name}` : "everything"} for ${account.name}`;
      if (duplicate) throw MulliganError.alreadyExists("role binding", what, "role");
      try {
        await repo.insertBinding(tx, row);
      } catch (err) {
        if (store.isUniqueViolation(err))
          throw MulliganError.alreadyExists("role binding", what, "role");
        throw err;
      }
      return toBinding({ ...row, account_name: account.name, project_name: project?.name ?? null });
    }),
  );
}

export async function revokeRole(
  store: Store,
  caller: Principal,
  input: BindingInput,
): Promise<void> {
  await store.transaction((tx) =>
    idempotent(store, tx, requestKey("RevokeRole", caller.accountUuid, input), async () => {
      const { account, project } = await resolveTarget(tx, caller, input);
      if (project === undefined && input.role === "admin")
        await refuseLastAdmin(
          tx,
          account,
          `account "${account.name}" holds the last global admin binding`,
        );
      const deleted = await repo.deleteBinding(tx, account.uuid, project?.uuid ?? "", input.role);
      if (deleted === 0)
        throw MulliganError.notFound("role binding", `${input.role} for ${account.name}`, "role");
      return null;
    }),
  );
}

/** Bindings the caller administers (all for a global admin, its subtree's otherwise). */
export async function listRoleBindings(
  store: Store,
  caller: Principal,
  input: ListRoleBindingsInput,
): Promise<Page<RoleBinding>> {
  const db = store.db;
  const scope = await adminScope(db, caller);
  const accountUuid =
    input.account === undefined
      ? undefined
      : (await accountSeenIn(db, scope, input.account)).row.uuid;
  const projectUuid =
    input.project === undefined
      ? undefined
      : (await projectIn(db, scope, input.project, "project")).uuid;
  const rows = await repo.listBindingRows(
    db,
    { accountUuid, projectUuid, within: scopeFilter(scope) },
    { after: input.after, limit: input.pageSize + 1 },
  );
  const page = pageOf(rows, input.pageSize, (r) => ({ k: r.account_name, u: r.uuid }));
  return { items: page.items.map(toBinding), nextPageToken: page.nextPageToken };
}

/**
 * Accounts: create (with a secret shown once), read, list, update, delete, and secret reset.
 * Global admins manage every account; a project-scoped admin sees accounts with a binding in
 * its subtree and changes only those whose every binding is in its subtree. The last enabled
 * global admin can be neither disabled nor deleted.
 */
import type { Kysely } from "kysely";
import { MulliganError } from "../platform/errors.js";
import { newUuid, nowIso } from "../platform/ids.js";
import type { PageKey } from "../platform/paging.js";
import { pageOf } from "../platform/paging.js";
import type { AccountKindName, Principal } from "../platform/principal.js";
import type { Database } from "../store/database.js";
import { type IdempotencyKey, idempotent } from "../store/request-log.js";
import type { Store, Tx } from "../store/store.js";
import type { Account, Page } from "./model.js";
import * as repo from "./repo.js";
import {
  adminScope,
  managesAccount,
  requestKey,
  type Scope,
  scopeFilter,
  seesAccount,
  toAccount,
} from "./scope.js";
import { generateSecret, hashSecret } from "./secrets.js";
import type { IamAccountsTable } from "./tables.js";

export interface CreateAccountInput {
  requestId?: string;
  name: string;
  kind: AccountKindName;
  description: string;
}

export interface ListAccountsInput {
  pageSize: number;
  after: PageKey | undefined;
  kind?: AccountKindName;
}

export interface UpdateAccountInput {
  requestId?: string;
  account: string;
  description?: string;
  disabled?: boolean;
}

/** The target of a delete or a secret reset. */
export interface AccountRefInput {
  requestId?: string;
  account: string;
}

/** An account and its secret; the secret is "" when a retried request replays the first result. */
export interface AccountWithSecret {
  account: Account;
  secret: string;
}

/**
 * Runs a mutation that stores the hash of a fresh secret (hashed before the transaction: scrypt
 * is slow) and returns the secret with the account; "" when a retried request replays the first
 * result, since secrets are never stored.
 */
async function withFreshSecret(
  store: Store,
  key: IdempotencyKey,
  run: (tx: Tx, hash: string) => Promise<Account>,
): Promise<AccountWithSecret> {
  const secret = generateSecret();
  const hash = await hashSecret(secret);
  let issued = false;
  const account = await store.transaction(async (tx) => {
    issued = false;
    return idempotent(store, tx, key, async () => {
      const account = await run(tx, hash);
      issued = true;
      return account;
    });
  });
  return { account, secret: issued ? secret : "" };
}

/** Creates an account with a fresh secret. */
export async function createAccount(
  store: Store,
  caller: Principal,
  input: CreateAccountInput,
): Promise<AccountWithSecret> {
  const key = requestKey("CreateAccount", caller.accountUuid, input);
  return withFreshSecret(store, key, async (tx, hash) => {
    if (await repo.findAccountRow(tx, input.name))
      throw MulliganError.alreadyExists("account", input.name);
    const now = nowIso();
    const row: IamAccountsTable = {
      uuid: newUuid(),
      name: input.name,
      kind: input.kind,
      description: input.description,
      disabled: 0,
      secret_hash: hash,
      created_at: now,
      updated_at: now,
    };
    try {
      await repo.insertAccount(tx, row);
    } catch (err) {
      if (store.isUniqueViolation(err)) throw MulliganError.alreadyExists("account", input.name);
      throw err;
    }
    return toAccount(row);
  });
}

/** The account and its bindings if an admin of `scope` sees it; NOT_FOUND otherwise. */
export async function accountSeenIn(db: Kysely<Database>, scope: Scope, ref: string) {
  const row = await repo.findAccountRow(db, ref);
  const bindings = row ? await repo.bindingsOfAccount(db, row.uuid) : [];
  if (!row || !seesAccount(scope, bindings))
    throw MulliganError.notFound("account", ref, "account");
  return { row, bindings };
}

/** The account if the calling admin may see it (and, if `manage`, change it). */
async function visibleAccount(
  db: Kysely<Database>,
  caller: Principal,
  ref: string,
  manage: boolean,
) {
  const scope = await adminScope(db, caller);
  const { row, bindings } = await accountSeenIn(db, scope, ref);
  if (manage && !managesAccount(scope, bindings))
    throw MulliganError.permissionDenied(
      "ACCOUNT_OUT_OF_SCOPE",
      `account "${row.name}" has roles outside your projects; only a global admin may change it`,
    );
  return { row, bindings };
}

export async function getAccount(store: Store, caller: Principal, ref: string): Promise<Account> {
  return toAccount((await visibleAccount(store.db, caller, ref, false)).row);
}

export async function listAccounts(
  store: Store,
  caller: Principal,
  input: ListAccountsInput,
): Promise<Page<Account>> {
  const scope = await adminScope(store.db, caller);
  const rows = await repo.listAccountRows(
    store.db,
    { kind: input.kind, within: scopeFilter(scope) },
    { after: input.after, limit: input.pageSize + 1 },
  );
  const page = pageOf(rows, input.pageSize, (r) => ({ k: r.name, u: r.uuid }));
  return { items: page.items.map(toAccount), nextPageToken: page.nextPageToken };
}

/**
 * FAILED_PRECONDITION LAST_ADMIN (with `message`) if `account` is enabled and no other enabled
 * account holds a global admin binding: the change would leave nobody to administer.
 */
export async function refuseLastAdmin(
  db: Kysely<Database>,
  account: IamAccountsTable,
  message: string,
): Promise<void> {
  if (account.disabled === 0 && (await repo.countOtherGlobalAdmins(db, account.uuid)) === 0)
    throw MulliganError.failedPrecondition("LAST_ADMIN", message);
}

/** Refuses to disable or delete the last enabled global admin. */
async function refuseLastAdminAccount(
  db: Kysely<Database>,
  row: IamAccountsTable,
  bindings: { project_uuid: string; role: string }[],
) {
  if (bindings.some((b) => b.project_uuid === "" && b.role === "admin"))
    await refuseLastAdmin(db, row, `account "${row.name}" is the last global admin`);
}

export async function updateAccount(
  store: Store,
  caller: Principal,
  input: UpdateAccountInput,
): Promise<Account> {
  return store.transaction((tx) =>
    idempotent(store, tx, requestKey("UpdateAccount", caller.accountUuid, input), async () => {
      const { row, bindings } = await visibleAccount(tx, caller, input.account, true);
      if (input.disabled === true) await refuseLastAdminAccount(tx, row, bindings);
      const patch = {
        ...(input.description !== undefined && { description: input.description }),
        ...(input.disabled !== undefined && { disabled: input.disabled ? 1 : 0 }),
        updated_at: nowIso(),
      };
      await repo.updateAccountRow(tx, row.uuid, patch);
      return toAccount({ ...row, ...patch });
    }),
  );
}

/** Deletes an account and its role bindings. */
export async function deleteAccount(
  store: Store,
  caller: Principal,
  input: AccountRefInput,
): Promise<void> {
  await store.transaction((tx) =>
    idempotent(store, tx, requestKey("DeleteAccount", caller.accountUuid, input), async () => {
      const { row, bindings } = await visibleAccount(tx, caller, input.account, true);
      await refuseLastAdminAccount(tx, row, bindings);
      await repo.deleteAccountRow(tx, row.uuid);
      return null;
    }),
  );
}

/**
 * Issues a new secret. An account may reset its own; otherwise only an admin who manages the
 * account may. Anyone else gets NOT_FOUND, so the call reveals nothing about other accounts.
 * A replay of the same request_id returns an empty secret (secrets are never stored).
 */
export async function resetAccountSecret(
  store: Store,
  caller: Principal,
  input: AccountRefInput,
): Promise<AccountWithSecret> {
  const key = requestKey("ResetAccountSecret", caller.accountUuid, input);
  return withFreshSecret(store, key, async (tx, hash) => {
    const own = await repo.findAccountRow(tx, input.account);
    const row =
      own?.uuid === caller.accountUuid
        ? own
        : (await visibleAccount(tx, caller, input.account, true)).row;
    const updatedAt = nowIso();
    await repo.updateAccountRow(tx, row.uuid, { secret_hash: hash, updated_at: updatedAt });
    return toAccount({ ...row, updated_at: updatedAt });
  });
}

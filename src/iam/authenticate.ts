/**
 * Authenticate (secret → token) and WhoAmI. A token is scoped to one project and carries the
 * roles bound on that project or an ancestor, plus the account's global roles. An unknown
 * account, a wrong secret and a disabled account get the same answer in the same time.
 */
import type { Kysely } from "kysely";
import { MulliganError } from "../platform/errors.js";
import type { Principal, RoleName } from "../platform/principal.js";
import type { Database } from "../store/database.js";
import type { Store } from "../store/store.js";
import type { Account, Project } from "./model.js";
import * as repo from "./repo.js";
import { toAccount, toProject } from "./scope.js";
import { burnSecretCheck, verifySecret } from "./secrets.js";
import { activeKey } from "./signing-keys.js";
import { signToken } from "./tokens.js";

export interface AuthenticateInput {
  account: string;
  secret: string;
  /** Project name or UUID; undefined for a token with global roles only. */
  project?: string;
  /** 0 for the default lifetime. */
  ttlSeconds: number;
}

/** A token and what it says. */
export interface Authenticated {
  token: string;
  expireTime: string;
  account: Account;
  project: Project | null;
  roles: RoleName[];
}

/** What a token's bearer is (WhoAmI). */
export interface Identity {
  account: Account;
  project: Project | null;
  roles: RoleName[];
  expireTime: string;
}

/** Global roles that see every project (as seesFleet). */
const FLEET_VIEWERS: readonly string[] = ["admin", "operator", "reader"];

const CREDENTIALS_INVALID = () =>
  MulliganError.unauthenticated(
    "CREDENTIALS_INVALID",
    "unknown account, wrong secret or disabled account",
  );

/** Roles of an account on a project (bindings on it or an ancestor) and its global roles. */
export async function rolesOf(
  db: Kysely<Database>,
  accountUuid: string,
  projectUuid: string | null,
) {
  const bindings = await repo.bindingsOfAccount(db, accountUuid);
  const chain = projectUuid ? await repo.ancestorUuids(db, projectUuid) : [];
  const unique = (list: string[]) => [...new Set(list)].sort() as RoleName[];
  return {
    roles: unique(bindings.filter((b) => chain.includes(b.project_uuid)).map((b) => b.role)),
    globalRoles: unique(bindings.filter((b) => b.project_uuid === "").map((b) => b.role)),
  };
}

export async function authenticate(store: Store, input: AuthenticateInput): Promise<Authenticated> {
  const db = store.db;
  const row = await repo.findAccountRow(db, input.account);
  if (row?.disabled !== 0) {
    await burnSecretCheck(input.secret);
    throw CREDENTIALS_INVALID();
  }
  if (!(await verifySecret(input.secret, row.secret_hash))) throw CREDENTIALS_INVALID();
  const account = toAccount(row);
  if (input.project !== undefined) {
    const found = await repo.findProjectRow(db, input.project);
    const { roles, globalRoles } = await rolesOf(db, row.uuid, found?.uuid ?? null);
    // Only an account that sees the whole fleet may learn that a project does not exist.
    if (!found && globalRoles.some((r) => FLEET_VIEWERS.includes(r)))
      throw MulliganError.notFound("project", input.project, "project");
    if (!found || roles.length + globalRoles.length === 0)
      throw MulliganError.permissionDenied(
        "NO_ROLE_ON_PROJECT",
        `account "${row.name}" has no role on project "${input.project}"`,
      );
    return issue(db, account, toProject(found), roles, globalRoles, input.ttlSeconds);
  }
  const { globalRoles } = await rolesOf(db, row.uuid, null);
  if (globalRoles.length === 0)
    throw MulliganError.permissionDenied(
      "NO_GLOBAL_ROLE",
      `account "${row.name}" has no global role: authenticate to a project`,
    );
  return issue(db, account, null, [], globalRoles, input.ttlSeconds);
}

async function issue(
  db: Kysely<Database>,
  account: Account,
  project: Project | null,
  roles: RoleName[],
  globalRoles: RoleName[],
  ttlSeconds: number,
): Promise<Authenticated> {
  const key = await activeKey(db);
  const signed = await signToken(
    { kid: key.kid, privateJwk: key.private_jwk },
    { account, project, roles, globalRoles },
    ttlSeconds,
  );
  const all = [...new Set([...roles, ...globalRoles])].sort();
  return { token: signed.token, expireTime: signed.expireTime, account, project, roles: all };
}

/** The caller as its token describes it, with the account and project as stored now. */
export async function whoAmI(store: Store, caller: Principal): Promise<Identity> {
  const row = await repo.findAccountRow(store.db, caller.accountUuid);
  if (!row) throw MulliganError.notFound("account", caller.accountName);
  const project = caller.projectUuid
    ? await repo.findProjectRow(store.db, caller.projectUuid)
    : undefined;
  return {
    account: toAccount(row),
    project: project ? toProject(project) : null,
    roles: [...new Set([...caller.projectRoles, ...caller.globalRoles])].sort(),
    expireTime: caller.expiresAt.toISOString(),
  };
}

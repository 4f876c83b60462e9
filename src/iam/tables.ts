/**
 * The iam part's tables as Kysely sees them. Only repo.ts queries them; times are ISO-8601 text
 * and booleans 0/1 integers so one schema works on SQLite and PostgreSQL.
 */
import type { RequestLogTable } from "../store/request-log.js";

/** An account; the secret is kept only as an scrypt hash (`scrypt$N$r$p$salt$hash`). */
export interface IamAccountsTable {
  uuid: string;
  name: string;
  /** "user" | "application" | "executor". */
  kind: string;
  description: string;
  disabled: number;
  secret_hash: string;
  created_at: string;
  updated_at: string;
}

/** A project; parent_uuid is null for a top-level project. The parent never changes. */
export interface IamProjectsTable {
  uuid: string;
  name: string;
  parent_uuid: string | null;
  description: string;
  created_at: string;
  updated_at: string;
}

/**
 * A role binding. A global binding stores '' as project_uuid (not NULL) so the unique key
 * (account_uuid, project_uuid, role) also dedupes global bindings.
 */
export interface IamRoleBindingsTable {
  uuid: string;
  account_uuid: string;
  project_uuid: string;
  role: string;
  created_at: string;
}

/** A token-signing key pair (JWK JSON text); retired keys stay published until their tokens expire. */
export interface IamSigningKeysTable {
  kid: string;
  private_jwk: string;
  public_jwk: string;
  created_at: string;
  retired_at: string | null;
}

/** Every iam table, joined into the store's Database type by src/store/database.ts. */
export interface IamTables {
  iam_accounts: IamAccountsTable;
  iam_projects: IamProjectsTable;
  iam_role_bindings: IamRoleBindingsTable;
  iam_signing_keys: IamSigningKeysTable;
  iam_requests: RequestLogTable;
}

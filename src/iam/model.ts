/**
 * The iam part's domain objects, as the domain hands them to service.ts (which encodes them) and
 * to the request log (so they are plain JSON: times are ISO strings).
 */
import type { AccountKindName, RoleName } from "../platform/principal.js";

/** An account as callers see it (never with its secret hash). */
export interface Account {
  uuid: string;
  name: string;
  kind: AccountKindName;
  description: string;
  disabled: boolean;
  createTime: string;
  updateTime: string;
}

/** A project with its parent's name, so responses carry both name and UUID. */
export interface Project {
  uuid: string;
  name: string;
  parentUuid: string | null;
  parentName: string | null;
  description: string;
  createTime: string;
  updateTime: string;
}

/** One role on one project (or globally when projectUuid is null) for one account. */
export interface RoleBinding {
  accountUuid: string;
  accountName: string;
  projectUuid: string | null;
  projectName: string | null;
  role: RoleName;
  createTime: string;
}

/** A published token-verification key. */
export interface SigningKey {
  kid: string;
  publicJwk: string;
  active: boolean;
  createTime: string;
  /** When a retired key stops being published; null while active. */
  expireTime: string | null;
}

/** A page of a list and the token of the next one ("" on the last page). */
export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

/** Roles that may be bound globally; the others only make sense inside a project. */
export const GLOBAL_ROLES: readonly RoleName[] = ["admin", "operator", "reader", "executor"];

/**
 * Who is calling: decoded from a verified token and handed to handlers through the call's
 * context values. Domain code receives it as a plain object and decides tenancy with it.
 */
import { createContextKey } from "@connectrpc/connect";

export const ROLES = ["admin", "operator", "member", "reader", "executor"] as const;
export type RoleName = (typeof ROLES)[number];

export type AccountKindName = "user" | "application" | "executor";

export interface Principal {
  accountUuid: string;
  accountName: string;
  accountKind: AccountKindName;
  /** The project the token is scoped to; null for a token with global roles only. */
  projectUuid: string | null;
  projectName: string | null;
  /** Roles bound on the token's project or one of its ancestors. */
  projectRoles: readonly RoleName[];
  /** Roles bound globally (no project). */
  globalRoles: readonly RoleName[];
  /** Token expiry. */
  expiresAt: Date;
}

/** True if the principal holds the role in its project or globally. */
export function hasRole(p: Principal, role: RoleName): boolean {
  return p.projectRoles.includes(role) || p.globalRoles.includes(role);
}

/** Global admins, operators and readers see the whole fleet and every project. */
export function seesFleet(p: Principal): boolean {
  return p.globalRoles.some((r) => r === "admin" || r === "operator" || r === "reader");
}

/** Sees INTERNAL regions: fleet-seeing principals and executors (which run the fleet's hosts). */
export function seesAllRegions(p: Principal): boolean {
  return seesFleet(p) || p.globalRoles.includes("executor");
}

/** May change fleet objects (regions, definitions, fleet-owned registry entries). */
export function managesFleet(p: Principal): boolean {
  return p.globalRoles.some((r) => r === "admin" || r === "operator");
}

/** The caller, set by the auth interceptor (undefined on public methods). */
export const principalKey = createContextKey<Principal | undefined>(undefined, {
  description: "mulligan principal",
});

/** The remote address of the HTTP/2 connection a call arrived on. */
export const peerAddressKey = createContextKey<string>("", { description: "peer address" });

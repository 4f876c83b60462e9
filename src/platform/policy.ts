/**
 * Authorization tables. Each service declares, for every one of its RPCs, who may call it;
 * the server refuses to start if an RPC is missing from its table, so nothing is open by
 * accident. Finer rules (which project, which object) live in the domain.
 */
import type { DescService } from "@bufbuild/protobuf";
import { hasRole, type Principal, type RoleName } from "./principal.js";

/** "public": no token needed. "authenticated": any valid token. Otherwise: any of these roles. */
export type Access = "public" | "authenticated" | readonly RoleName[];

/** RPC method name (as in the proto) → access. */
export type PolicyTable = Readonly<Record<string, Access>>;

export const ADMIN: readonly RoleName[] = ["admin"];
export const FLEET_WRITERS: readonly RoleName[] = ["admin", "operator"];
export const WRITERS: readonly RoleName[] = ["admin", "operator", "member"];
export const READERS: readonly RoleName[] = ["admin", "operator", "member", "reader"];
export const EVERYONE: readonly RoleName[] = ["admin", "operator", "member", "reader", "executor"];

/** Throws if a service has an RPC that its table does not mention, or the table has extras. */
export function assertPolicyCovers(service: DescService, table: PolicyTable): void {
  const methods = service.methods.map((m) => m.name);
  const missing = methods.filter((m) => !(m in table));
  const extra = Object.keys(table).filter((m) => !methods.includes(m));
  if (missing.length > 0 || extra.length > 0)
    throw new Error(
      `policy table of ${service.typeName} is wrong: missing [${missing.join(", ")}], unknown [${extra.join(", ")}]`,
    );
}

/** True if the principal may call a method with this access. */
export function allows(access: Access, principal: Principal | undefined): boolean {
  if (access === "public") return true;
  if (!principal) return false;
  if (access === "authenticated") return true;
  return access.some((role) => hasRole(principal, role));
}

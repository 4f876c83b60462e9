/**
 * Who may see and change the registry. Providers, their inventories and groups are fleet
 * objects: global admins, operators and readers see them, global admins and operators change
 * them, and executors (which register the hosts they drive) do both. Everyone else finds no
 * provider (NOT_FOUND, empty lists) and may change none (PERMISSION_DENIED).
 */
import { MulliganError } from "../platform/errors.js";
import { hasRole, managesFleet, type Principal, seesFleet } from "../platform/principal.js";
import { type IdempotencyKey, idempotencyKey } from "../store/request-log.js";

/** Fleet-seeing principals and executors. */
export function seesProviders(p: Principal): boolean {
  return seesFleet(p) || hasRole(p, "executor");
}

/** Creating and changing providers, their inventories, capabilities and groups. */
export function assertProviderWriter(p: Principal): void {
  if (!managesFleet(p) && !hasRole(p, "executor"))
    throw MulliganError.permissionDenied(
      "FLEET_ROLE_REQUIRED",
      "only global admins, operators and executors change providers",
    );
}

/** Deleting providers and classes, creating groups: global admins and operators only. */
export function assertFleetManager(p: Principal): void {
  if (!managesFleet(p))
    throw MulliganError.permissionDenied(
      "FLEET_ROLE_REQUIRED",
      "only global admins and operators do this",
    );
}

/** The request-log key of a mutation by `p` (request ids are scoped per account). */
export function requestKey(
  method: string,
  p: Principal,
  input: { requestId?: string | undefined },
): IdempotencyKey {
  return idempotencyKey("resource_requests", method, p.accountUuid, input);
}

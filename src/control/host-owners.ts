/**
 * Which executor account runs a host's tasks. The first account that leases the tasks of a host
 * owns it from then on (an executor registers its host and leases at once, so in practice the
 * account that registered it); another executor account is refused that host's tasks —
 * PERMISSION_DENIED on LeaseTasks, NOT_FOUND on ReportTask, so one tenant's executor can never
 * run or finish another's builds even with a stolen lease token.
 */
import { MulliganError } from "../platform/errors.js";
import { nowIso } from "../platform/ids.js";
import type { Principal } from "../platform/principal.js";
import type { ControlDeps } from "./deps.js";
import * as repo from "./repo.js";

/** Binds unowned hosts to the caller; throws PERMISSION_DENIED for a host another account owns. */
export async function claimHosts(
  deps: ControlDeps,
  p: Principal,
  hosts: readonly { uuid: string; ref: string }[],
): Promise<void> {
  for (const [i, h] of hosts.entries()) {
    const owner = await repo.bindHost(deps.store.db, h.uuid, p.accountUuid, nowIso());
    if (owner !== p.accountUuid)
      throw new MulliganError(
        "PERMISSION_DENIED",
        "HOST_OWNED_BY_ANOTHER_EXECUTOR",
        `host "${h.ref}" is run by another executor account`,
        [
          {
            field: `hosts[${i}]`,
            reason: "HOST_OWNED_BY_ANOTHER_EXECUTOR",
            description: "owned by another executor account",
          },
        ],
      );
  }
}

/** True if the caller may report on a task of `hostUuid` (it owns the host, or nobody does). */
export async function mayRunOn(deps: ControlDeps, p: Principal, hostUuid: string) {
  const owner = await repo.hostOwner(deps.store.db, hostUuid);
  return owner === undefined || owner === p.accountUuid;
}

/**
 * Which executor account runs a scope's tasks — a host's (VM builds) or a conductor group's (node
 * steps, whose payload carries the BMC password). The first account that leases a scope's tasks
 * owns it from then on (an executor registers its host and leases at once, so in practice the
 * account that registered it); another executor account is refused that scope's tasks —
 * PERMISSION_DENIED on LeaseTasks, NOT_FOUND on ReportTask, so one tenant's executor can never
 * run or finish another's builds, nor read another's BMC passwords, even with a stolen lease
 * token.
 */
import { MulliganError } from "../platform/errors.js";
import { nowIso } from "../platform/ids.js";
import type { Principal } from "../platform/principal.js";
import type { ControlDeps } from "./deps.js";
import type { Task } from "./model.js";
import * as nodeRepo from "./node-repo.js";
import * as repo from "./repo.js";
import type { OwnedScope } from "./tables.js";

/** Binds an unowned scope to the caller; throws PERMISSION_DENIED if another account owns it. */
async function claim(
  deps: ControlDeps,
  p: Principal,
  kind: OwnedScope,
  scope: string,
  shown: { what: string; ref: string; field: string; reason: string },
): Promise<void> {
  const owner = await repo.bindScope(deps.store.db, kind, scope, p.accountUuid, nowIso());
  if (owner !== p.accountUuid)
    throw new MulliganError(
      "PERMISSION_DENIED",
      shown.reason,
      `${shown.what} "${shown.ref}" is run by another executor account`,
      [
        {
          field: shown.field,
          reason: shown.reason,
          description: "owned by another executor account",
        },
      ],
    );
}

/** Binds unowned hosts to the caller; throws PERMISSION_DENIED for a host another account owns. */
export async function claimHosts(
  deps: ControlDeps,
  p: Principal,
  hosts: readonly { uuid: string; ref: string }[],
): Promise<void> {
  for (const [i, h] of hosts.entries())
    await claim(deps, p, "host", h.uuid, {
      what: "host",
      ref: h.ref,
      field: `hosts[${i}]`,
      reason: "HOST_OWNED_BY_ANOTHER_EXECUTOR",
    });
}

/** Binds an unowned conductor group to the caller; PERMISSION_DENIED if another account has it. */
export async function claimConductorGroup(
  deps: ControlDeps,
  p: Principal,
  group: string,
): Promise<void> {
  await claim(deps, p, "conductor_group", group, {
    what: "conductor group",
    ref: group,
    field: "conductor_group",
    reason: "CONDUCTOR_GROUP_OWNED_BY_ANOTHER_EXECUTOR",
  });
}

/** True if the caller may report on a task of `hostUuid` (it owns the host, or nobody does). */
export async function mayRunOn(deps: ControlDeps, p: Principal, hostUuid: string) {
  const owner = await repo.scopeOwner(deps.store.db, "host", hostUuid);
  return owner === undefined || owner === p.accountUuid;
}

/**
 * True if the caller may report on `task`. A node task only to the account that owns the node's
 * conductor group (it leased the task through that group, so an unowned group means not this
 * caller); a VM task as mayRunOn says.
 */
export async function mayReport(deps: ControlDeps, p: Principal, task: Task): Promise<boolean> {
  if (task.nodeUuid === "") return mayRunOn(deps, p, task.hostUuid);
  const node = await nodeRepo.getNode(deps.store.db, task.nodeUuid);
  if (!node) return false;
  const owner = await repo.scopeOwner(deps.store.db, "conductor_group", node.conductorGroup);
  return owner === p.accountUuid;
}

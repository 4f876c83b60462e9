/**
 * Per-project limits per resource class. Usage counted against a limit is the sum of the
 * project's allocations that have not ended (open-ended ones and reservations still to come).
 * Claims check it inside their own transaction after locking the quota rows, so concurrent
 * claims of one project never exceed a limit together.
 */
import type { Kysely } from "kysely";
import type { Caller } from "../platform/caller.js";
import type { ProjectDirectory } from "../platform/directory.js";
import { MulliganError } from "../platform/errors.js";
import { nowIso } from "../platform/ids.js";
import { resolveProject } from "../platform/project-scope.js";
import type { Database } from "../store/database.js";
import { idempotent } from "../store/request-log.js";
import type { Store } from "../store/store.js";
import { assertFleetManager, requestKey } from "./access.js";
import * as repo from "./repo/claims.js";

/** A project's limit for one class with its current usage (limit -1 = none). */
export interface QuotaRecord {
  projectUuid: string;
  projectName: string;
  resourceClass: string;
  limit: number;
  used: number;
}

export interface SetQuotaInput {
  requestId?: string;
  project: string;
  resourceClass: string;
  /** -1 removes the limit. */
  limit: number;
}

/**
 * Refuses a claim that would take the project past a limit: `adding` holds the amounts per
 * class of the consumer's new allocation set, whose old allocations are already removed.
 */
export async function checkQuota(
  tx: Kysely<Database>,
  projectUuid: string,
  adding: ReadonlyMap<string, number>,
  now: string,
): Promise<void> {
  if (adding.size === 0) return;
  const limited = (rows: repo.QuotaRow[]) => rows.filter((q) => adding.has(q.resource_class));
  // Most projects have no limit on what a claim asks: one read, nothing to lock. Otherwise
  // lock the rows, then read them again (a limit may have changed while we waited).
  if (limited(await repo.quotasOf(tx, projectUuid)).length === 0) return;
  await repo.lockQuotas(tx, projectUuid, [...adding.keys()]);
  const limits = limited(await repo.quotasOf(tx, projectUuid));
  if (limits.length === 0) return;
  assertQuota(limits, await repo.projectUsage(tx, { projectUuid, now }), adding);
}

/**
 * The quota rule, given one project's limits and its usage: QUOTA_EXCEEDED when `adding` takes
 * a limited class past its limit. (The claim lane applies it to a batch, adding each accepted
 * claim to `used` before the next.)
 */
export function assertQuota(
  limits: readonly repo.QuotaRow[],
  used: ReadonlyMap<string, number>,
  adding: ReadonlyMap<string, number>,
): void {
  for (const q of limits) {
    const asked = adding.get(q.resource_class);
    if (asked === undefined) continue;
    const inUse = used.get(q.resource_class) ?? 0;
    if (inUse + asked > q.quota_limit)
      throw new MulliganError(
        "RESOURCE_EXHAUSTED",
        "QUOTA_EXCEEDED",
        `project quota for ${q.resource_class} is ${q.quota_limit}: ${inUse} in use, ${asked} more asked`,
        [],
        { resource_class: q.resource_class, limit: String(q.quota_limit) },
      );
  }
}

/** What the project may still claim per limited class (for searches that must fit quota). */
export async function quotaHeadroom(
  db: Kysely<Database>,
  projectUuid: string,
): Promise<Map<string, number>> {
  const limits = await repo.quotasOf(db, projectUuid);
  if (limits.length === 0) return new Map();
  const used = await repo.projectUsage(db, { projectUuid, now: nowIso() });
  return new Map(
    limits.map((q) => [q.resource_class, q.quota_limit - (used.get(q.resource_class) ?? 0)]),
  );
}

/** Sets or removes a limit: global admins and operators only. */
export async function setQuota(
  deps: { store: Store; projects: ProjectDirectory },
  caller: Caller,
  input: SetQuotaInput,
): Promise<QuotaRecord> {
  assertFleetManager(caller.principal);
  const project = await resolveProject(deps.projects, caller, input.project);
  const { store } = deps;
  return store.transaction((tx) =>
    idempotent(store, tx, requestKey("SetQuota", caller.principal, input), async () => {
      const limit = input.limit < 0 ? null : input.limit;
      await repo.writeQuota(tx, project.uuid, input.resourceClass, limit);
      const used = await repo.projectUsage(tx, { projectUuid: project.uuid, now: nowIso() });
      return {
        projectUuid: project.uuid,
        projectName: project.name,
        resourceClass: input.resourceClass,
        limit: limit ?? -1,
        used: used.get(input.resourceClass) ?? 0,
      };
    }),
  );
}

/** A project's limits with usage against each (default: the caller's project). */
export async function getQuotas(
  deps: { store: Store; projects: ProjectDirectory },
  caller: Caller,
  projectRef: string | undefined,
): Promise<QuotaRecord[]> {
  const project = await resolveProject(deps.projects, caller, projectRef);
  const [limits, used] = await Promise.all([
    repo.quotasOf(deps.store.db, project.uuid),
    repo.projectUsage(deps.store.db, { projectUuid: project.uuid, now: nowIso() }),
  ]);
  return limits.map((q) => ({
    projectUuid: project.uuid,
    projectName: project.name,
    resourceClass: q.resource_class,
    limit: q.quota_limit,
    used: used.get(q.resource_class) ?? 0,
  }));
}

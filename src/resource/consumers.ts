/**
 * Consumers and their tenancy. A consumer belongs to a project: members see and change only
 * their token's project's consumers (any other answers NOT_FOUND, exactly like an unknown
 * UUID); global admins, operators and readers see every project's.
 */
import type { Kysely } from "kysely";
import type { Caller } from "../platform/caller.js";
import { MulliganError } from "../platform/errors.js";
import { nowIso } from "../platform/ids.js";
import { type Principal, seesFleet } from "../platform/principal.js";
import { isUuid } from "../platform/validate.js";
import type { Database } from "../store/database.js";
import { idempotent } from "../store/request-log.js";
import type { Store } from "../store/store.js";
import { requestKey } from "./access.js";
import type { Window } from "./model.js";
import { appendChanges } from "./repo/changes.js";
import type { ConsumerRow } from "./repo/claims.js";
import * as repo from "./repo/claims.js";
import { bumpGenerations } from "./repo/registry.js";

/** A consumer as the domain returns it. */
export interface ConsumerRecord {
  uuid: string;
  projectUuid: string;
  userUuid: string;
  consumerType: string;
  generation: number;
  window: Window;
}

/** One provider's part of a consumer's allocations, with the provider's name. */
export interface AllocationView {
  providerUuid: string;
  providerName: string;
  resources: Record<string, number>;
}

export function consumerRecord(row: ConsumerRow): ConsumerRecord {
  return {
    uuid: row.uuid,
    projectUuid: row.project_uuid,
    userUuid: row.user_uuid,
    consumerType: row.consumer_type,
    generation: row.generation,
    window: { start: row.window_start, end: row.window_end === "" ? null : row.window_end },
  };
}

/** True if the principal may see the project's consumers. */
function seesProject(p: Principal, projectUuid: string): boolean {
  return seesFleet(p) || p.projectUuid === projectUuid;
}

/**
 * The account a consumer belongs to (default: the caller). Accounts are resolved by UUID; a
 * name resolves only when it is the caller's own (the resource part has no account directory).
 */
export function resolveUser(caller: Caller, ref: string | undefined, field = "user"): string {
  const p = caller.principal;
  if (ref === undefined || ref === p.accountName) return p.accountUuid;
  if (isUuid(ref)) return ref.toLowerCase();
  throw MulliganError.invalid(field, "USER_INVALID", "must be an account UUID or your own name");
}

/** The consumer if the principal may see it; NOT_FOUND otherwise. */
export function visibleConsumer(
  p: Principal,
  row: ConsumerRow | undefined,
  ref: string,
  field = "consumer",
): ConsumerRow {
  if (!row || !seesProject(p, row.project_uuid))
    throw MulliganError.notFound("consumer", ref, field);
  return row;
}

/** ABORTED: the consumer changed since the caller read it (or exists when it should be new). */
export function consumerConflict(uuid: string, expected: number | null, actual: number | null) {
  const want = expected === null ? "a new consumer" : `generation ${expected}`;
  const got = actual === null ? "no consumer" : `generation ${actual}`;
  return new MulliganError(
    "ABORTED",
    "CONSUMER_GENERATION_CONFLICT",
    `consumer ${uuid}: expected ${want}, found ${got}; read it again and retry`,
  );
}

/** A decoded Release request. */
export interface ReleaseInput {
  requestId?: string;
  consumer: string;
  /** When set, a stale generation is ABORTED. */
  consumerGeneration: number | null;
}

/** Removes a consumer and all its allocations (the symmetric undo of a claim). */
export async function release(store: Store, p: Principal, input: ReleaseInput): Promise<void> {
  await store.transaction((tx) =>
    idempotent(store, tx, requestKey("Release", p, input), async () => {
      const now = nowIso();
      const row = visibleConsumer(p, await repo.getConsumer(tx, input.consumer), input.consumer);
      const expected = input.consumerGeneration ?? row.generation;
      if (row.generation !== expected) throw consumerConflict(row.uuid, expected, row.generation);
      const providers = (await repo.consumerAllocations(tx, row.uuid)).map((a) => a.provider_uuid);
      await bumpGenerations(tx, providers, now);
      if (!(await repo.deleteConsumer(tx, row.uuid, expected)))
        throw consumerConflict(row.uuid, expected, null);
      await appendChanges(store, tx, providers, "usage", now);
      return null;
    }),
  );
}

/** A visible consumer with its allocations. */
export async function getAllocations(
  store: Store,
  p: Principal,
  ref: string,
): Promise<{ consumer: ConsumerRecord; allocations: AllocationView[] }> {
  return store.transaction(async (tx) => {
    const row = visibleConsumer(p, await repo.getConsumer(tx, ref), ref);
    const rows = await repo.consumerAllocations(tx, row.uuid);
    return { consumer: consumerRecord(row), allocations: await allocationViews(tx, rows) };
  });
}

/** Allocation rows grouped per provider, with provider names. */
export async function allocationViews(
  db: Kysely<Database>,
  rows: readonly repo.AllocationRow[],
  known?: ReadonlyMap<string, string>,
): Promise<AllocationView[]> {
  const uuids = [...new Set(rows.map((r) => r.provider_uuid))];
  const names =
    known && uuids.every((u) => known.has(u))
      ? known
      : new Map((await repo.providersByUuid(db, uuids)).map((p) => [p.uuid, p.name]));
  const views = new Map<string, AllocationView>();
  for (const r of rows) {
    let v = views.get(r.provider_uuid);
    if (!v) {
      v = {
        providerUuid: r.provider_uuid,
        providerName: names.get(r.provider_uuid) ?? "",
        resources: {},
      };
      views.set(r.provider_uuid, v);
    }
    v.resources[r.resource_class] = r.amount;
  }
  return [...views.values()].sort((a, b) => (a.providerName < b.providerName ? -1 : 1));
}

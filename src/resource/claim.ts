/**
 * Claim (explicit allocations): the owner and the providers resolved, then the set written. A
 * new consumer's claim — what a scheduler that chose from FindCandidates sends — goes through
 * the claim lane like ClaimBest's (batched with the claims that arrive with it); any other
 * (a consumer's new set at its generation, an empty set that releases it) is written alone by
 * writeClaim in a transaction of its own.
 */
import type { Kysely } from "kysely";
import type { Caller } from "../platform/caller.js";
import { MulliganError } from "../platform/errors.js";
import { nowIso } from "../platform/ids.js";
import { projectFilter } from "../platform/project-scope.js";
import type { Database } from "../store/database.js";
import { idempotent } from "../store/request-log.js";
import { requestKey } from "./access.js";
import {
  type ClaimInput,
  type ClaimResult,
  type ClaimWrite,
  claimWindow,
  writeClaim,
} from "./allocations.js";
import { claimLane } from "./claim-lane.js";
import { resolveUser } from "./consumers.js";
import type { ResourceDeps } from "./module.js";
import { findProviderRow } from "./repo/registry.js";

export async function claim(
  deps: ResourceDeps,
  caller: Caller,
  input: ClaimInput,
): Promise<ClaimResult> {
  const project = await projectFilter(deps.projects, caller, input.project);
  const userUuid = input.user === undefined ? null : resolveUser(caller, input.user);
  const { store } = deps;
  const { principal } = caller;
  const key = requestKey("Claim", principal, input);
  const resolve = async (db: Kysely<Database>): Promise<ClaimWrite> => {
    const allocations = new Map<string, Record<string, number>>();
    const fields = new Map<string, string>();
    for (const [i, a] of input.allocations.entries()) {
      const field = `allocations[${i}]`;
      const row = await findProviderRow(db, a.provider);
      if (!row) throw MulliganError.notFound("provider", a.provider, `${field}.provider`);
      const merged = allocations.get(row.uuid) ?? {};
      for (const [cls, amount] of Object.entries(a.resources))
        merged[cls] = (merged[cls] ?? 0) + amount;
      allocations.set(row.uuid, merged);
      if (!fields.has(row.uuid)) fields.set(row.uuid, field);
    }
    return {
      consumer: input.consumer,
      expectedGeneration: input.consumerGeneration,
      projectUuid: project?.uuid ?? null,
      userUuid,
      consumerType: input.consumerType,
      window: claimWindow(input.window, nowIso()),
      allocations,
      fields,
    };
  };
  if (input.consumerGeneration === null && input.allocations.length > 0) {
    // The lane re-checks every provider under its lock; one deleted since is refused there.
    const write = await resolve(store.db);
    return claimLane(store).submit({ principal, key, write }, (r) => r);
  }
  return store.transaction((tx) =>
    idempotent(store, tx, key, async () => writeClaim(store, tx, principal, await resolve(tx))),
  );
}

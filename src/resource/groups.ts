/**
 * Provider groups (Placement's aggregates), optionally a failure-domain level (rack, row,
 * site) that distance constraints use. Membership is part of a provider, so changing it is
 * generation-checked like any other provider change.
 */
import type { Caller } from "../platform/caller.js";
import { MulliganError } from "../platform/errors.js";
import { newUuid, nowIso } from "../platform/ids.js";
import { type PageKey, pageOf } from "../platform/paging.js";
import type { Principal } from "../platform/principal.js";
import { isUuid } from "../platform/validate.js";
import { idempotent } from "../store/request-log.js";
import type { Store } from "../store/store.js";
import { assertFleetManager, requestKey, seesProviders } from "./access.js";
import type { GroupLevelName } from "./model.js";
import {
  changeProvider,
  type Page,
  type Provider,
  type RegistryDeps,
  reread,
  withRegionName,
  writeProvider,
} from "./provider-records.js";
import * as repo from "./repo/registry.js";
import * as vocabulary from "./repo/vocabulary.js";

/** A group as the registry returns it. */
export interface ProviderGroup {
  uuid: string;
  name: string;
  level: GroupLevelName | null;
  createTime: string;
}

/** A decoded CreateProviderGroup request. */
export interface CreateGroupInput {
  requestId?: string;
  name: string;
  level: GroupLevelName | null;
}

/** A decoded ListProviderGroups request. */
export interface ListGroupsInput {
  pageSize: number;
  after: PageKey | undefined;
}

/** The whole new membership of a provider (group names or UUIDs, no duplicates). */
export interface SetProviderGroupsInput {
  requestId?: string;
  provider: string;
  generation: number;
  groups: string[];
}

function toGroup(row: vocabulary.GroupRow): ProviderGroup {
  return {
    uuid: row.uuid,
    name: row.name,
    level: (row.level || null) as GroupLevelName | null,
    createTime: row.created_at,
  };
}

/** CreateProviderGroup: a uniquely named group. */
export async function createGroup(
  store: Store,
  caller: Principal,
  input: CreateGroupInput,
): Promise<ProviderGroup> {
  assertFleetManager(caller);
  const exists = () => MulliganError.alreadyExists("provider group", input.name);
  return store.transaction((tx) =>
    idempotent(store, tx, requestKey("CreateProviderGroup", caller, input), async () => {
      if ((await vocabulary.groupRowsByRef(tx, [input.name])).some((g) => g.name === input.name))
        throw exists();
      const row = {
        uuid: newUuid(),
        name: input.name,
        level: input.level ?? "",
        created_at: nowIso(),
      };
      try {
        await vocabulary.insertGroup(tx, row);
      } catch (err) {
        if (store.isUniqueViolation(err)) throw exists();
        throw err;
      }
      return toGroup(row);
    }),
  );
}

/** ListProviderGroups: groups by (name, uuid); callers who cannot see providers get none. */
export async function listGroups(
  store: Store,
  caller: Principal,
  input: ListGroupsInput,
): Promise<Page<ProviderGroup>> {
  if (!seesProviders(caller)) return { items: [], nextPageToken: "" };
  const rows = await vocabulary.listGroupRows(store.db, {
    after: input.after,
    limit: input.pageSize + 1,
  });
  const page = pageOf(rows, input.pageSize, (r) => ({ k: r.name, u: r.uuid }));
  return { items: page.items.map(toGroup), nextPageToken: page.nextPageToken };
}

/** SetProviderGroups: replaces the provider's membership (generation-checked). */
export async function setProviderGroups(
  deps: RegistryDeps,
  caller: Caller,
  input: SetProviderGroupsInput,
): Promise<Provider> {
  const result = await writeProvider(deps, caller, "SetProviderGroups", input, async (tx, row) => {
    const found = await vocabulary.groupRowsByRef(tx, input.groups);
    const uuids = input.groups.map((ref, i) => {
      const uuid = isUuid(ref) ? ref.toLowerCase() : undefined;
      const group = found.find((g) => g.uuid === uuid) ?? found.find((g) => g.name === ref);
      if (!group) throw MulliganError.notFound("provider group", ref, `groups[${i}]`);
      return group.uuid;
    });
    await changeProvider(deps.store, tx, row, input.generation, "updated");
    await repo.replaceGroups(tx, row.uuid, [...new Set(uuids)]);
    return reread(tx, row.uuid);
  });
  return withRegionName(deps, caller, result);
}

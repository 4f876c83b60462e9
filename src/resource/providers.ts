/**
 * Providers: named nodes of trees (a root and its descendants), each tree in one region.
 * Every change bumps the provider's generation (compare-and-swap: a stale one is ABORTED) and
 * appends to the change log. Regions are resolved through the RegionDirectory before a
 * transaction opens and named after it closes (SQLite has one connection).
 */
import type { Kysely } from "kysely";
import type { Caller } from "../platform/caller.js";
import type { RegionRef } from "../platform/directory.js";
import { MulliganError } from "../platform/errors.js";
import { newUuid, nowIso } from "../platform/ids.js";
import { type PageKey, pageOf } from "../platform/paging.js";
import type { Database } from "../store/database.js";
import { idempotent } from "../store/request-log.js";
import { assertFleetManager, assertProviderWriter, requestKey, seesProviders } from "./access.js";
import { assertKnownCapabilities } from "./capabilities.js";
import {
  changeProvider,
  generationConflict,
  type Page,
  type Provider,
  type RegistryDeps,
  reread,
  resolveProvider,
  toProviders,
  withRegionName,
  withRegionNames,
} from "./provider-records.js";
import { appendChanges } from "./repo/changes.js";
import * as repo from "./repo/registry.js";
import * as vocabulary from "./repo/vocabulary.js";

/** A decoded CreateProvider request (region required by the decoder for a root). */
export interface CreateProviderInput {
  requestId?: string;
  name: string;
  region?: string;
  parent?: string;
  uuid?: string;
}

/** A decoded ListProviders request. */
export interface ListProvidersInput {
  pageSize: number;
  after: PageKey | undefined;
  region?: string;
  inTree?: string;
  required: string[];
  memberOf?: string;
  namePrefix?: string;
}

/** Only the masked fields are set; parent null makes the provider a root. */
export interface UpdateProviderInput {
  requestId?: string;
  provider: string;
  generation: number;
  name?: string;
  parent?: string | null;
  region?: string;
}

/** The provider to delete. */
export interface DeleteProviderInput {
  requestId?: string;
  provider: string;
}

/** A region the caller may name; NOT_FOUND (on `field`) otherwise. Outside transactions. */
async function findRegion(
  deps: RegistryDeps,
  caller: Caller,
  ref: string,
  field: string,
): Promise<RegionRef> {
  const region = await deps.regions.findRegion(caller, ref);
  if (!region) throw MulliganError.notFound("region", ref, field);
  return region;
}

async function assertNameFree(db: Kysely<Database>, name: string, except?: string) {
  const uuid = await repo.providerUuidByName(db, name);
  if (uuid !== undefined && uuid !== except) throw MulliganError.alreadyExists("provider", name);
}

function regionMismatch(field: string, message: string) {
  return MulliganError.invalid(field, "REGION_MISMATCH", message);
}

/** CreateProvider: a root in a region, or a child in its parent's tree (and region). */
export async function createProvider(
  deps: RegistryDeps,
  caller: Caller,
  input: CreateProviderInput,
): Promise<Provider> {
  const { store } = deps;
  const p = caller.principal;
  assertProviderWriter(p);
  const region = input.region ? await findRegion(deps, caller, input.region, "region") : undefined;
  const created = await store.transaction((tx) =>
    idempotent(store, tx, requestKey("CreateProvider", p, input), async () => {
      const parent = input.parent
        ? await resolveProvider(tx, p, input.parent, "parent")
        : undefined;
      if (parent && region && region.uuid !== parent.region_uuid)
        throw regionMismatch("region", "a child lives in its parent's region");
      const regionUuid = parent?.region_uuid ?? region?.uuid;
      if (!regionUuid) throw MulliganError.invalid("region", "FIELD_REQUIRED", "is required");
      const uuid = input.uuid ?? newUuid();
      if ((await repo.findProviderRow(tx, uuid))?.uuid === uuid)
        throw MulliganError.alreadyExists("provider", uuid, "uuid");
      await assertNameFree(tx, input.name);
      const at = nowIso();
      try {
        await repo.insertProvider(tx, {
          uuid,
          name: input.name,
          region_uuid: regionUuid,
          parent_uuid: parent?.uuid ?? "",
          root_uuid: parent?.root_uuid ?? uuid,
          generation: 0,
          created_at: at,
          updated_at: at,
        });
      } catch (err) {
        if (store.isUniqueViolation(err)) throw MulliganError.alreadyExists("provider", input.name);
        throw err;
      }
      await appendChanges(store, tx, [uuid], "created", at);
      return reread(tx, uuid);
    }),
  );
  return withRegionName(deps, caller, created);
}

/** GetProvider: one provider by name or UUID. */
export async function getProvider(
  deps: RegistryDeps,
  caller: Caller,
  ref: string,
): Promise<Provider> {
  const row = await resolveProvider(deps.store.db, caller.principal, ref, "provider");
  return (
    await withRegionNames(deps, caller, await toProviders(deps.store.db, [row]))
  )[0] as Provider;
}

/** ListProviders: a filtered page by (name, uuid); callers who cannot see providers get none. */
export async function listProviders(
  deps: RegistryDeps,
  caller: Caller,
  input: ListProvidersInput,
): Promise<Page<Provider>> {
  const db = deps.store.db;
  const p = caller.principal;
  if (!seesProviders(p)) return { items: [], nextPageToken: "" };
  let regionUuids: string[] | undefined;
  if (input.region) {
    const region = await findRegion(deps, caller, input.region, "region");
    regionUuids = [...(await deps.regions.subtree(caller, region.uuid))];
  }
  await assertKnownCapabilities(db, "required", input.required);
  const tree = input.inTree ? await resolveProvider(db, p, input.inTree, "in_tree") : undefined;
  let groupUuid: string | undefined;
  if (input.memberOf) {
    const [group] = await vocabulary.groupRowsByRef(db, [input.memberOf]);
    if (!group) throw MulliganError.notFound("provider group", input.memberOf, "member_of");
    groupUuid = group.uuid;
  }
  const rows = await repo.listProviderRows(
    db,
    {
      regionUuids,
      rootUuid: tree?.root_uuid,
      capabilities: input.required,
      groupUuid,
      namePrefix: input.namePrefix,
    },
    { after: input.after, limit: input.pageSize + 1 },
  );
  const page = pageOf(rows, input.pageSize, (r) => ({ k: r.name, u: r.uuid }));
  const items = await withRegionNames(deps, caller, await toProviders(db, page.items));
  return { items, nextPageToken: page.nextPageToken };
}

/** The provider and everything below it, from its tree's links. */
async function subtreeOf(db: Kysely<Database>, row: repo.ProviderRow): Promise<Set<string>> {
  const children = new Map<string, string[]>();
  for (const l of await repo.treeLinks(db, row.root_uuid)) {
    const list = children.get(l.parent_uuid) ?? [];
    list.push(l.uuid);
    children.set(l.parent_uuid, list);
  }
  const found = new Set<string>();
  const queue = [row.uuid];
  for (let at = queue.pop(); at !== undefined; at = queue.pop()) {
    if (found.has(at)) continue;
    found.add(at);
    queue.push(...(children.get(at) ?? []));
  }
  return found;
}

/**
 * UpdateProvider: renames, re-parents (never into its own subtree) or moves a root's tree to
 * another region. A moved subtree takes its new root; a tree keeps one region, so a child
 * cannot change region alone and a re-parented subtree must already be (or be moved, with
 * region in the mask) in its new tree's region.
 */
export async function updateProvider(
  deps: RegistryDeps,
  caller: Caller,
  input: UpdateProviderInput,
): Promise<Provider> {
  const { store } = deps;
  const p = caller.principal;
  assertProviderWriter(p);
  const region = input.region ? await findRegion(deps, caller, input.region, "region") : undefined;
  const updated = await store.transaction((tx) =>
    idempotent(store, tx, requestKey("UpdateProvider", p, input), async () => {
      const row = await resolveProvider(tx, p, input.provider, "provider");
      if (Number(row.generation) !== input.generation)
        throw generationConflict(row, input.generation);
      const subtree = await subtreeOf(tx, row);
      let parent: repo.ProviderRow | null | undefined;
      if (input.parent === null) parent = null;
      else if (input.parent !== undefined) {
        parent = await resolveProvider(tx, p, input.parent, "parent");
        if (subtree.has(parent.uuid))
          throw MulliganError.invalid(
            "parent",
            "PROVIDER_CYCLE",
            "would place the provider inside its own subtree",
          );
      }
      const parentUuid = parent === undefined ? row.parent_uuid : (parent?.uuid ?? "");
      let rootUuid = row.uuid;
      let regionUuid = region?.uuid ?? row.region_uuid;
      if (parentUuid !== "") {
        const treeRegion = parent ? parent.region_uuid : row.region_uuid;
        rootUuid = parent ? parent.root_uuid : row.root_uuid;
        if (region && region.uuid !== treeRegion)
          throw regionMismatch("region", "a child lives in its tree's region: move the root");
        if (!region && row.region_uuid !== treeRegion)
          throw regionMismatch("parent", "the new parent's tree lies in another region");
        regionUuid = treeRegion;
      }
      if (input.name !== undefined && input.name !== row.name)
        await assertNameFree(tx, input.name, row.uuid);
      const at = await changeProvider(store, tx, row, input.generation, "updated", {
        ...(input.name !== undefined && { name: input.name }),
        parent_uuid: parentUuid,
        root_uuid: rootUuid,
        region_uuid: regionUuid,
      });
      if (rootUuid !== row.root_uuid || regionUuid !== row.region_uuid) {
        const below = [...subtree].filter((u) => u !== row.uuid);
        await repo.bumpGenerations(tx, below, at, { root_uuid: rootUuid, region_uuid: regionUuid });
        await appendChanges(store, tx, below, "updated", at);
      }
      return reread(tx, row.uuid);
    }),
  );
  return withRegionName(deps, caller, updated);
}

/** DeleteProvider: refused while it has children or any allocation. */
export async function deleteProvider(
  deps: RegistryDeps,
  caller: Caller,
  input: DeleteProviderInput,
): Promise<void> {
  const { store } = deps;
  const p = caller.principal;
  assertFleetManager(p);
  await store.transaction((tx) =>
    idempotent(store, tx, requestKey("DeleteProvider", p, input), async () => {
      const row = await resolveProvider(tx, p, input.provider, "provider");
      if (await repo.hasChildren(tx, row.uuid))
        throw MulliganError.failedPrecondition(
          "PROVIDER_HAS_CHILDREN",
          `provider "${row.name}" has child providers: delete or move them first`,
        );
      if (await repo.hasAllocations(tx, row.uuid))
        throw MulliganError.failedPrecondition(
          "PROVIDER_IN_USE",
          `provider "${row.name}" holds allocations: release them first`,
        );
      await repo.deleteProvider(tx, row.uuid);
      await appendChanges(store, tx, [row.uuid], "deleted", nowIso());
      return null;
    }),
  );
}

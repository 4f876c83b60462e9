/**
 * Providers as the registry hands them out, and the steps every provider read and write shares:
 * resolving a reference (fleet visibility), reading rows back with capabilities and groups,
 * naming regions after the transaction, and the generation compare-and-swap with its change-log
 * row.
 */
import type { Kysely } from "kysely";
import type { Caller } from "../platform/caller.js";
import type { RegionDirectory } from "../platform/directory.js";
import { MulliganError } from "../platform/errors.js";
import { nowIso } from "../platform/ids.js";
import type { Principal } from "../platform/principal.js";
import type { Database } from "../store/database.js";
import { idempotent } from "../store/request-log.js";
import type { Store } from "../store/store.js";
import { assertProviderWriter, requestKey, seesProviders } from "./access.js";
import { appendChanges, type ChangeKind } from "./repo/changes.js";
import * as repo from "./repo/registry.js";

/** What the registry needs from its host. */
export interface RegistryDeps {
  store: Store;
  regions: RegionDirectory;
}

/** A provider as the registry returns it (names of what it refers to included). */
export interface Provider {
  uuid: string;
  name: string;
  regionUuid: string;
  /** "" when the caller may not see the region. */
  regionName: string;
  parentUuid: string | null;
  parentName: string | null;
  rootUuid: string;
  rootName: string;
  generation: number;
  capabilities: string[];
  /** Group names. */
  groups: string[];
  createTime: string;
  updateTime: string;
}

/** One page of a list. */
export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

/** A provider the caller may see; NOT_FOUND (on `field`) otherwise. */
export async function resolveProvider(
  db: Kysely<Database>,
  p: Principal,
  ref: string,
  field: string,
): Promise<repo.ProviderRow> {
  const row = seesProviders(p) ? await repo.findProviderRow(db, ref) : undefined;
  if (!row) throw MulliganError.notFound("provider", ref, field);
  return row;
}

/** Rows → providers with capabilities and groups (region names come later). */
export async function toProviders(
  db: Kysely<Database>,
  rows: readonly repo.ProviderRow[],
): Promise<Provider[]> {
  const uuids = rows.map((r) => r.uuid);
  const caps = await repo.capabilitiesOf(db, uuids);
  const groups = await repo.groupNamesOf(db, uuids);
  return rows.map((r) => ({
    uuid: r.uuid,
    name: r.name,
    regionUuid: r.region_uuid,
    regionName: "",
    parentUuid: r.parent_uuid || null,
    parentName: r.parent_name,
    rootUuid: r.root_uuid,
    rootName: r.root_name,
    generation: Number(r.generation),
    capabilities: caps.get(r.uuid) ?? [],
    groups: groups.get(r.uuid) ?? [],
    createTime: r.created_at,
    updateTime: r.updated_at,
  }));
}

/** One provider read back inside a transaction after a change. */
export async function reread(db: Kysely<Database>, uuid: string): Promise<Provider> {
  const row = await repo.findProviderRow(db, uuid);
  const [provider] = row ? await toProviders(db, [row]) : [];
  if (!provider) throw new Error(`provider ${uuid} vanished inside its transaction`);
  return provider;
}

/** Fills in region names (one directory call); call it outside any transaction. */
export async function withRegionNames(
  deps: RegistryDeps,
  caller: Caller,
  providers: Provider[],
): Promise<Provider[]> {
  if (providers.length === 0) return providers;
  const names = await deps.regions.getRegions(caller, [
    ...new Set(providers.map((p) => p.regionUuid)),
  ]);
  return providers.map((p) => ({ ...p, regionName: names.get(p.regionUuid)?.name ?? "" }));
}

/** One provider with its region name filled in; call it outside any transaction. */
export async function withRegionName(
  deps: RegistryDeps,
  caller: Caller,
  provider: Provider,
): Promise<Provider> {
  const [named] = await withRegionNames(deps, caller, [provider]);
  return named ?? provider;
}

/**
 * The frame of every write that replaces part of one existing provider (its capabilities,
 * groups, inventories): writer check, then `run` with the visible provider inside one
 * idempotent transaction.
 */
export async function writeProvider<T>(
  deps: RegistryDeps,
  caller: Caller,
  method: string,
  input: { requestId?: string | undefined; provider: string },
  run: (tx: Kysely<Database>, row: repo.ProviderRow) => Promise<T>,
): Promise<T> {
  const { store } = deps;
  const p = caller.principal;
  assertProviderWriter(p);
  return store.transaction((tx) =>
    idempotent(store, tx, requestKey(method, p, input), async () =>
      run(tx, await resolveProvider(tx, p, input.provider, "provider")),
    ),
  );
}

/** ABORTED: the provider changed since the caller read it. */
export function generationConflict(row: { name: string; generation: number }, seen: number) {
  return new MulliganError(
    "ABORTED",
    "PROVIDER_GENERATION_CONFLICT",
    `provider "${row.name}" is at generation ${row.generation}, not ${seen}: read it again and retry`,
  );
}

/**
 * Bumps a provider's generation (compare-and-swap against `seen`), applies `patch` and logs
 * the change: the one way every registry write touches a provider.
 */
export async function changeProvider(
  store: Store,
  tx: Kysely<Database>,
  row: repo.ProviderRow,
  seen: number,
  change: ChangeKind,
  patch: Parameters<typeof repo.bumpProvider>[4] = {},
): Promise<string> {
  const at = nowIso();
  if (Number(row.generation) !== seen || !(await repo.bumpProvider(tx, row.uuid, seen, at, patch)))
    throw generationConflict(row, seen);
  await appendChanges(store, tx, [row.uuid], change, at);
  return at;
}

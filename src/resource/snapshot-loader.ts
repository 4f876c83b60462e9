/**
 * Rows to engine records, and the reference snapshot: StoreSnapshotSource loads the whole fleet
 * from the store in one transaction. Servers search their FleetIndex (fleet-index.ts) instead;
 * the loader stays as the slow, obviously-right evaluation the index is tested against.
 */
import { sql } from "kysely";
import { nowIso } from "../platform/ids.js";
import type { Dialect, Store, Tx } from "../store/store.js";
import { MemorySnapshot, type Snapshot } from "./engine/snapshot.js";
import type { AllocationRecord, GroupLevelName, GroupRecord, ProviderRecord } from "./model.js";
import { type AllocationRow, endsAfter, loadSnapshotRows } from "./repo/claims.js";
import { inventoryRecord } from "./repo/registry.js";
import type { ResourceTables } from "./tables.js";

/** A consistent view of providers, groups and allocations for one search. */
export interface SnapshotSource {
  snapshot(): Promise<Snapshot>;
}

const LEVELS: readonly string[] = ["rack", "row", "site"];

/** The rows that make provider records (any subset of providers). */
export interface ProviderRows {
  providers: readonly ResourceTables["resource_providers"][];
  inventories: readonly ResourceTables["resource_inventories"][];
  capabilities: readonly ResourceTables["resource_provider_capabilities"][];
  memberships: readonly ResourceTables["resource_provider_groups"][];
}

/** Provider records from their rows. */
export function providerRecords(rows: ProviderRows): ProviderRecord[] {
  const inventories = groupBy(rows.inventories, (r) => r.provider_uuid);
  const capabilities = groupBy(rows.capabilities, (r) => r.provider_uuid);
  const memberships = groupBy(rows.memberships, (r) => r.provider_uuid);
  return rows.providers.map((p) => ({
    uuid: p.uuid,
    name: p.name,
    regionUuid: p.region_uuid,
    parentUuid: p.parent_uuid === "" ? null : p.parent_uuid,
    rootUuid: p.root_uuid,
    generation: p.generation,
    capabilities: (capabilities.get(p.uuid) ?? []).map((c) => c.capability).sort(),
    groups: (memberships.get(p.uuid) ?? []).map((m) => m.group_uuid),
    inventories: new Map(
      (inventories.get(p.uuid) ?? []).map((i) => [i.resource_class, inventoryRecord(i)]),
    ),
  }));
}

/** A group record from its row (levels other than rack/row/site are plain groups). */
export function groupRecord(g: ResourceTables["resource_groups"]): GroupRecord {
  return {
    uuid: g.uuid,
    name: g.name,
    level: LEVELS.includes(g.level) ? (g.level as GroupLevelName) : null,
  };
}

/** Loads the whole snapshot from the store in one transaction (allocations not yet ended). */
export class StoreSnapshotSource implements SnapshotSource {
  constructor(private readonly store: Store) {}

  async snapshot(): Promise<Snapshot> {
    const rows = await this.store.transaction((tx) => loadSnapshotRows(tx, nowIso()));
    return new MemorySnapshot(
      providerRecords(rows),
      rows.groups.map(groupRecord),
      rows.allocations.map(allocationRecord),
    );
  }
}

/** Every provider's rows and every group (the fleet index's start; allocations come paged). */
export async function loadRegistryRows(tx: Tx) {
  const [providers, inventories, capabilities, memberships, groups] = await Promise.all([
    tx.selectFrom("resource_providers").selectAll().execute(),
    tx.selectFrom("resource_inventories").selectAll().execute(),
    tx.selectFrom("resource_provider_capabilities").selectAll().execute(),
    tx.selectFrom("resource_provider_groups").selectAll().execute(),
    tx.selectFrom("resource_groups").selectAll().execute(),
  ]);
  return { providers, inventories, capabilities, memberships, groups };
}

/** Rows of live allocations read per query by eachAllocationPage. */
const ALLOCATION_PAGE = 50_000;

/**
 * Every allocation not ended at `now`, a page at a time (keyset, so each page is a range): a
 * fleet's half a million rows never sit in memory all at once, which keeps the resident set of a
 * starting server low. SQLite pages by rowid (table order, a sequential read); PostgreSQL by
 * primary key. Pages are read in `tx`, one consistent view.
 */
export async function eachAllocationPage(
  tx: Tx,
  dialect: Dialect,
  now: string,
  each: (rows: readonly AllocationRow[]) => void,
): Promise<void> {
  const live = tx
    .selectFrom("resource_allocations")
    .selectAll()
    .where(endsAfter(now))
    .limit(ALLOCATION_PAGE);
  if (dialect === "sqlite") {
    for (let after = -1; ; ) {
      const rows = await live
        .select(sql<number>`rowid`.as("row_id"))
        .where(sql<boolean>`rowid > ${after}`)
        .orderBy(sql`rowid`)
        .execute();
      each(rows);
      const last = rows[rows.length - 1];
      if (rows.length < ALLOCATION_PAGE || !last) return;
      after = last.row_id;
    }
  }
  for (let after: AllocationRow | undefined; ; ) {
    const key = after;
    const rows = await live
      .$if(key !== undefined, (qb) =>
        qb.where(
          sql<boolean>`(consumer_uuid, provider_uuid, resource_class) > (${key?.consumer_uuid}, ${key?.provider_uuid}, ${key?.resource_class})`,
        ),
      )
      .orderBy("consumer_uuid")
      .orderBy("provider_uuid")
      .orderBy("resource_class")
      .execute();
    each(rows);
    if (rows.length < ALLOCATION_PAGE) return;
    after = rows[rows.length - 1];
  }
}

/** An allocation row as the engine sees it ('' end = open-ended). */
export function allocationRecord(a: AllocationRow): AllocationRecord {
  return {
    consumerUuid: a.consumer_uuid,
    providerUuid: a.provider_uuid,
    resourceClass: a.resource_class,
    amount: a.amount,
    window: { start: a.window_start, end: a.window_end === "" ? null : a.window_end },
  };
}

function groupBy<T>(rows: readonly T[], key: (row: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const r of rows) {
    const list = map.get(key(r));
    if (list) list.push(r);
    else map.set(key(r), [r]);
  }
  return map;
}

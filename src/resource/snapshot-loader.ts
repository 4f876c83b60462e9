/**
 * Rows to engine records, and the reference snapshot: StoreSnapshotSource loads the whole fleet
 * from the store in one transaction. Servers search their FleetIndex (fleet-index.ts) instead;
 * the loader stays as the slow, obviously-right evaluation the index is tested against.
 */
import { nowIso } from "../platform/ids.js";
import type { Store } from "../store/store.js";
import { MemorySnapshot, type Snapshot } from "./engine/snapshot.js";
import type { AllocationRecord, GroupLevelName, GroupRecord, ProviderRecord } from "./model.js";
import { type AllocationRow, loadSnapshotRows } from "./repo/claims.js";
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

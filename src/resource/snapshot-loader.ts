/**
 * Where searches get their view of the fleet. Today every search loads a fresh MemorySnapshot
 * from the store; the fleet-scale step replaces StoreSnapshotSource with an index kept current
 * from resource_changes, behind the same SnapshotSource interface.
 */
import { nowIso } from "../platform/ids.js";
import type { Store } from "../store/store.js";
import { MemorySnapshot, type Snapshot } from "./engine/snapshot.js";
import type { AllocationRecord, GroupLevelName, GroupRecord, ProviderRecord } from "./model.js";
import { type AllocationRow, loadSnapshotRows } from "./repo/claims.js";
import { inventoryRecord } from "./repo/registry.js";

/** A consistent view of providers, groups and allocations for one search. */
export interface SnapshotSource {
  snapshot(): Promise<Snapshot>;
}

const LEVELS: readonly string[] = ["rack", "row", "site"];

/** Loads the whole snapshot from the store in one transaction (allocations not yet ended). */
export class StoreSnapshotSource implements SnapshotSource {
  constructor(private readonly store: Store) {}

  async snapshot(): Promise<Snapshot> {
    const rows = await this.store.transaction((tx) => loadSnapshotRows(tx, nowIso()));
    const inventories = groupBy(rows.inventories, (r) => r.provider_uuid);
    const capabilities = groupBy(rows.capabilities, (r) => r.provider_uuid);
    const memberships = groupBy(rows.memberships, (r) => r.provider_uuid);
    const providers: ProviderRecord[] = rows.providers.map((p) => ({
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
    const groups: GroupRecord[] = rows.groups.map((g) => ({
      uuid: g.uuid,
      name: g.name,
      level: LEVELS.includes(g.level) ? (g.level as GroupLevelName) : null,
    }));
    return new MemorySnapshot(providers, groups, rows.allocations.map(allocationRecord));
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

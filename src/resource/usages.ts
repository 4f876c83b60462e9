/**
 * Usage views: a project's (optionally one user's or consumer type's) usage with its consumer
 * count and quota limits, a provider's usage per class, and the consumers holding allocations
 * on a provider now or later (reservations).
 */
import type { Caller } from "../platform/caller.js";
import type { ProjectDirectory } from "../platform/directory.js";
import { nowIso } from "../platform/ids.js";
import { type PageKey, pageOf } from "../platform/paging.js";
import type { Principal } from "../platform/principal.js";
import { resolveProject } from "../platform/project-scope.js";
import type { Store } from "../store/store.js";
import { type ConsumerRecord, consumerRecord, resolveUser } from "./consumers.js";
import { usageLookup } from "./engine/snapshot.js";
import { capacityOf, type ResourceSummaryRecord, type Window } from "./model.js";
import { resolveProvider } from "./provider-records.js";
import * as repo from "./repo/claims.js";
import { inventoryRecord } from "./repo/registry.js";
import { allocationRecord } from "./snapshot-loader.js";

export interface UsagesInput {
  project?: string;
  user?: string;
  consumerType?: string;
}

/** Usage of one class with the project's limit (-1 = none). */
export interface UsageRecord {
  resourceClass: string;
  used: number;
  limit: number;
}

/** Usage of a project's allocations that have not ended, per class, with limits. */
export async function getUsages(
  deps: { store: Store; projects: ProjectDirectory },
  caller: Caller,
  input: UsagesInput,
): Promise<{ usages: UsageRecord[]; consumerCount: number }> {
  const project = await resolveProject(deps.projects, caller, input.project);
  const filter: repo.UsageFilter = {
    projectUuid: project.uuid,
    now: nowIso(),
    ...(input.user !== undefined && { userUuid: resolveUser(caller, input.user) }),
    ...(input.consumerType !== undefined && { consumerType: input.consumerType }),
  };
  const db = deps.store.db;
  const [used, consumerCount, quotas] = await Promise.all([
    repo.projectUsage(db, filter),
    repo.countConsumers(db, filter),
    repo.quotasOf(db, project.uuid),
  ]);
  const limits = new Map(quotas.map((q) => [q.resource_class, q.quota_limit]));
  const classes = [...new Set([...used.keys(), ...limits.keys()])].sort();
  const usages = classes.map((c) => ({
    resourceClass: c,
    used: used.get(c) ?? 0,
    limit: limits.get(c) ?? -1,
  }));
  return { usages, consumerCount };
}

/** Capacity and the amount allocated at this instant, per class of the provider. */
export async function getProviderUsages(
  store: Store,
  p: Principal,
  ref: string,
): Promise<{ generation: number; usages: ResourceSummaryRecord[] }> {
  const provider = await resolveProvider(store.db, p, ref, "provider");
  const now = nowIso();
  const instant: Window = { start: now, end: new Date(Date.parse(now) + 1).toISOString() };
  const [inventories, allocations] = await Promise.all([
    repo.inventoriesOf(store.db, [provider.uuid]),
    repo.allocationsOverlapping(store.db, [provider.uuid], instant),
  ]);
  const records = allocations.map(allocationRecord);
  const usage = usageLookup(records);
  const capacity = new Map(
    inventories.map((i) => [i.resource_class, capacityOf(inventoryRecord(i))]),
  );
  const classes = [...new Set([...capacity.keys(), ...records.map((a) => a.resourceClass)])].sort();
  return {
    generation: provider.generation,
    usages: classes.map((c) => ({
      resourceClass: c,
      capacity: capacity.get(c) ?? 0,
      used: usage(provider.uuid, c, instant),
    })),
  };
}

export interface ProviderAllocationsInput {
  provider: string;
  pageSize: number;
  after: PageKey | undefined;
  /** null: current and future allocations. */
  window: Window | null;
}

/** One consumer's allocations on the listed provider. */
export interface ProviderAllocationRecord {
  consumer: ConsumerRecord;
  resources: Record<string, number>;
}

/** Consumers holding allocations on a provider over a window, by window start then UUID. */
export async function listProviderAllocations(
  store: Store,
  p: Principal,
  input: ProviderAllocationsInput,
): Promise<{ items: ProviderAllocationRecord[]; nextPageToken: string }> {
  const provider = await resolveProvider(store.db, p, input.provider, "provider");
  const window = input.window ?? { start: nowIso(), end: null };
  return store.transaction(async (tx) => {
    const keys = await repo.providerConsumerPage(
      tx,
      provider.uuid,
      window,
      input.after,
      input.pageSize + 1,
    );
    const page = pageOf(keys, input.pageSize, (k) => ({ k: k.window_start, u: k.consumer_uuid }));
    const uuids = page.items.map((k) => k.consumer_uuid);
    const [consumers, rows] = await Promise.all([
      repo.consumersByUuid(tx, uuids),
      repo.allocationsOfConsumers(tx, uuids),
    ]);
    const byUuid = new Map(consumers.map((c) => [c.uuid, c]));
    const items: ProviderAllocationRecord[] = [];
    for (const uuid of uuids) {
      const c = byUuid.get(uuid);
      if (!c) continue;
      const resources: Record<string, number> = {};
      for (const r of rows)
        if (r.consumer_uuid === uuid && r.provider_uuid === provider.uuid)
          resources[r.resource_class] = r.amount;
      items.push({ consumer: consumerRecord(c), resources });
    }
    return { items, nextPageToken: page.nextPageToken };
  });
}

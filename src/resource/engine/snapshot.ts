/**
 * What the candidate search reads: a consistent view of providers, groups and allocations.
 * Today it is loaded from the store per search (src/resource/snapshot-loader.ts); the next step
 * (issue: fleet scale) keeps one in memory, current from the change log. The engine sees only
 * this interface, so that change does not touch it.
 */
import {
  type AllocationRecord,
  type GroupRecord,
  overlaps,
  type ProviderRecord,
  type Window,
} from "../model.js";

export interface Snapshot {
  /** Every provider by UUID. */
  readonly providers: ReadonlyMap<string, ProviderRecord>;
  /** Child UUIDs by parent UUID. */
  readonly children: ReadonlyMap<string, readonly string[]>;
  /** Every group by UUID. */
  readonly groups: ReadonlyMap<string, GroupRecord>;
  /**
   * The most of `resourceClass` allocated on the provider at any instant of `window`
   * (allocations overlapping the window, peak of their concurrent sum).
   */
  used(providerUuid: string, resourceClass: string, window: Window): number;
  /** Providers holding allocations of a consumer (for distance constraints). */
  consumerProviders(consumerUuid: string): readonly string[];
}

/** A snapshot built from plain records (loader and tests share it). */
export class MemorySnapshot implements Snapshot {
  readonly providers: Map<string, ProviderRecord>;
  readonly children = new Map<string, string[]>();
  readonly groups: Map<string, GroupRecord>;
  private readonly usage: UsageLookup;
  private readonly byConsumer = new Map<string, Set<string>>();

  constructor(
    providers: Iterable<ProviderRecord>,
    groups: Iterable<GroupRecord>,
    allocations: Iterable<AllocationRecord>,
  ) {
    this.providers = new Map([...providers].map((p) => [p.uuid, p]));
    this.groups = new Map([...groups].map((g) => [g.uuid, g]));
    for (const p of this.providers.values()) {
      if (p.parentUuid === null) continue;
      const list = this.children.get(p.parentUuid) ?? [];
      list.push(p.uuid);
      this.children.set(p.parentUuid, list);
    }
    const records = [...allocations];
    this.usage = usageLookup(records);
    for (const a of records) {
      const set = this.byConsumer.get(a.consumerUuid) ?? new Set<string>();
      set.add(a.providerUuid);
      this.byConsumer.set(a.consumerUuid, set);
    }
  }

  used(providerUuid: string, resourceClass: string, window: Window): number {
    return this.usage(providerUuid, resourceClass, window);
  }

  consumerProviders(consumerUuid: string): readonly string[] {
    return [...(this.byConsumer.get(consumerUuid) ?? [])];
  }
}

/** Peak usage of one class on one provider over a window (0 without allocations). */
export type UsageLookup = (providerUuid: string, resourceClass: string, window: Window) => number;

/**
 * Groups allocations by (provider, class) once, so each lookup runs peakUsage over that pair's
 * allocations only: the snapshot, the claim's capacity check, Reshape's final state and the
 * inventory views all count usage this way.
 */
export function usageLookup(allocations: Iterable<AllocationRecord>): UsageLookup {
  const byKey = new Map<string, AllocationRecord[]>();
  for (const a of allocations) {
    const key = `${a.providerUuid}\u0000${a.resourceClass}`;
    const list = byKey.get(key);
    if (list) list.push(a);
    else byKey.set(key, [a]);
  }
  return (providerUuid, resourceClass, window) => {
    const list = byKey.get(`${providerUuid}\u0000${resourceClass}`);
    return list ? peakUsage(list, window) : 0;
  };
}

/**
 * The peak concurrent sum of the allocations that overlap `window`. The sum only rises at an
 * allocation's start, so the peak is at the window start or at one of those starts.
 */
export function peakUsage(allocations: readonly AllocationRecord[], window: Window): number {
  const inWindow = allocations.filter((a) => overlaps(a.window, window));
  if (inWindow.length === 0) return 0;
  const instants = new Set<string>([window.start]);
  for (const a of inWindow) if (a.window.start > window.start) instants.add(a.window.start);
  let peak = 0;
  for (const t of instants) {
    let sum = 0;
    for (const a of inWindow)
      if (a.window.start <= t && (a.window.end === null || t < a.window.end)) sum += a.amount;
    if (sum > peak) peak = sum;
  }
  return peak;
}

/**
 * What the candidate search reads: a consistent view of providers, groups and allocations.
 * In a running server it is the process's FleetIndex (src/resource/fleet-index.ts), kept current
 * from the change log; tests and the reference evaluation build a MemorySnapshot from records
 * loaded straight from the store (src/resource/snapshot-loader.ts). The engine sees only this
 * interface.
 */
import {
  type AllocationRecord,
  capacityOf,
  fitsUnits,
  type GroupRecord,
  overlaps,
  type ProviderRecord,
  SHARING_CAPABILITY,
  type Window,
} from "../model.js";

export interface Snapshot {
  /** Every provider by UUID. */
  readonly providers: ReadonlyMap<string, ProviderRecord>;
  /** Child UUIDs by parent UUID. */
  readonly children: ReadonlyMap<string, readonly string[]>;
  /** Every group by UUID. */
  readonly groups: ReadonlyMap<string, GroupRecord>;
  /** Every provider UUID ordered by name, then UUID (the order every output follows). */
  providersByName(): readonly string[];
  /** A provider's position in providersByName (comparing ranks compares names, then UUIDs). */
  rank(providerUuid: string): number;
  /**
   * Providers that alone offer `amount` of the class over the window (min/max/step and free
   * capacity, as SearchContext.offers), in the same order: stage 1's pass over the whole fleet.
   */
  offering(resourceClass: string, amount: number, window: Window): string[];
  /** Root provider UUIDs in the same order. */
  rootsByName(): readonly string[];
  /** Every provider of the tree rooted at `root`, depth first, children by name. */
  tree(root: string): readonly string[];
  /** Providers with MISC_SHARES_VIA_AGGREGATE (they may serve other trees). */
  sharingProviders(): readonly string[];
  /** The providers in a group. */
  members(groupUuid: string): readonly string[];
  /**
   * The most of `resourceClass` allocated on the provider at any instant of `window`
   * (allocations overlapping the window, peak of their concurrent sum).
   */
  used(providerUuid: string, resourceClass: string, window: Window): number;
  /** Providers holding allocations of a consumer (for distance constraints). */
  consumerProviders(consumerUuid: string): readonly string[];
  /** True if some provider has the capability (rules a required one out at once when not). */
  hasCapability(name: string): boolean;
}

/**
 * What changed in a snapshot that changes in place (the fleet index), so a search kept from an
 * earlier state can be brought up to date tree by tree (kept-search.ts) instead of redone.
 */
export interface ChangeJournal {
  /**
   * Bumped by every change other than usage on non-sharing providers: a provider, inventory,
   * capability or group membership changed, a provider came or went, a sharing provider's usage
   * changed. A search kept from another shape is redone.
   */
  readonly shape: number;
  /** Rounds of changes applied so far. */
  readonly rounds: number;
  /**
   * Roots of the trees whose usage changed in the rounds after `round` (the shape unchanged), or
   * null when the journal no longer reaches back that far.
   */
  usageChangedSince(round: number): ReadonlySet<string> | null;
  /**
   * The latest end of any allocation held so far (null: every allocation was open-ended), never
   * lowered. An answer for a window that starts "now" moves with the clock only when an
   * allocation ends: open-ended allocations overlap every later instant, so the peak over such
   * a window is the sum of those that start before it ends. Past this instant nothing held
   * ends any more, and a kept search stays exact however long it is kept.
   */
  readonly latestEnd: string | null;
}

/** The snapshot's change journal, if it keeps one. */
export function journalOf(snapshot: Snapshot): ChangeJournal | null {
  const j = snapshot as Partial<ChangeJournal>;
  return typeof j.usageChangedSince === "function" ? (snapshot as Snapshot & ChangeJournal) : null;
}

/** Orders provider records by name, then UUID. */
export function compareProviders(a: ProviderRecord, b: ProviderRecord): number {
  return a.name < b.name
    ? -1
    : a.name > b.name
      ? 1
      : a.uuid < b.uuid
        ? -1
        : a.uuid > b.uuid
          ? 1
          : 0;
}

/** A snapshot built from plain records (the reference loader and tests share it). */
export class MemorySnapshot implements Snapshot {
  readonly providers: Map<string, ProviderRecord>;
  readonly children = new Map<string, string[]>();
  readonly groups: Map<string, GroupRecord>;
  private readonly usage: UsageLookup;
  private readonly byConsumer = new Map<string, Set<string>>();
  private readonly byGroup = new Map<string, string[]>();
  private byName: readonly string[] | null = null;
  private ranks: Map<string, number> | null = null;
  private byClass: Map<string, string[]> | null = null;
  private readonly trees = new Map<string, readonly string[]>();
  private roots: readonly string[] | null = null;
  private sharing: readonly string[] | null = null;
  private capabilityNames: ReadonlySet<string> | null = null;

  constructor(
    providers: Iterable<ProviderRecord>,
    groups: Iterable<GroupRecord>,
    allocations: Iterable<AllocationRecord>,
  ) {
    this.providers = new Map([...providers].map((p) => [p.uuid, p]));
    this.groups = new Map([...groups].map((g) => [g.uuid, g]));
    for (const p of this.providers.values()) {
      for (const g of p.groups) {
        const list = this.byGroup.get(g);
        if (list) list.push(p.uuid);
        else this.byGroup.set(g, [p.uuid]);
      }
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

  providersByName(): readonly string[] {
    this.byName ??= [...this.providers.values()].sort(compareProviders).map((p) => p.uuid);
    return this.byName;
  }

  rank(providerUuid: string): number {
    this.ranks ??= rankMap(this.providersByName());
    return this.ranks.get(providerUuid) ?? -1;
  }

  offering(resourceClass: string, amount: number, window: Window): string[] {
    this.byClass ??= classLists(this.providersByName(), this.providers);
    return (this.byClass.get(resourceClass) ?? []).filter((u) => {
      const inv = this.providers.get(u)?.inventories.get(resourceClass);
      if (!inv || !fitsUnits(inv, amount)) return false;
      return this.used(u, resourceClass, window) + amount <= capacityOf(inv);
    });
  }

  tree(root: string): readonly string[] {
    let list = this.trees.get(root);
    if (!list) {
      list = treeListing(this, root);
      this.trees.set(root, list);
    }
    return list;
  }

  rootsByName(): readonly string[] {
    this.roots ??= this.providersByName().filter((u) => this.providers.get(u)?.parentUuid === null);
    return this.roots;
  }

  sharingProviders(): readonly string[] {
    this.sharing ??= this.providersByName().filter((u) =>
      this.providers.get(u)?.capabilities.includes(SHARING_CAPABILITY),
    );
    return this.sharing;
  }

  members(groupUuid: string): readonly string[] {
    return this.byGroup.get(groupUuid) ?? [];
  }

  used(providerUuid: string, resourceClass: string, window: Window): number {
    return this.usage(providerUuid, resourceClass, window);
  }

  consumerProviders(consumerUuid: string): readonly string[] {
    return [...(this.byConsumer.get(consumerUuid) ?? [])];
  }

  hasCapability(name: string): boolean {
    this.capabilityNames ??= new Set([...this.providers.values()].flatMap((p) => p.capabilities));
    return this.capabilityNames.has(name);
  }
}

/** A tree depth first, children by name (ranks), for Snapshot.tree. */
export function treeListing(snapshot: Snapshot, root: string): string[] {
  const out: string[] = [];
  const visit = (uuid: string): void => {
    out.push(uuid);
    const kids = snapshot.children.get(uuid) ?? [];
    if (kids.length === 1) visit(kids[0] as string);
    else if (kids.length > 1)
      for (const kid of [...kids].sort((a, b) => snapshot.rank(a) - snapshot.rank(b))) visit(kid);
  };
  visit(root);
  return out;
}

/** Position of every provider in a by-name listing. */
export function rankMap(byName: readonly string[]): Map<string, number> {
  const ranks = new Map<string, number>();
  for (let i = 0; i < byName.length; i++) ranks.set(byName[i] as string, i);
  return ranks;
}

/** Class → providers with an inventory of it, keeping the by-name order. */
export function classLists(
  byName: readonly string[],
  providers: ReadonlyMap<string, ProviderRecord>,
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const u of byName)
    for (const rc of providers.get(u)?.inventories.keys() ?? []) {
      const list = out.get(rc);
      if (list) list.push(u);
      else out.set(rc, [u]);
    }
  return out;
}

/** Peak usage of one class on one provider over a window (0 without allocations). */
export type UsageLookup = (providerUuid: string, resourceClass: string, window: Window) => number;

/**
 * Groups allocations by (provider, class) once, so each lookup runs peakUsage over that pair's
 * allocations only: the snapshot, the claim's capacity check, Reshape's final state and the
 * inventory views all count usage this way.
 */
export function usageLookup(allocations: Iterable<AllocationRecord>): UsageLookup {
  return usageBook(allocations).used;
}

/**
 * usageLookup that more allocations can join (the claim lane counts each claim it accepts
 * before checking the next one of its batch).
 */
export function usageBook(allocations: Iterable<AllocationRecord>): {
  used: UsageLookup;
  add(a: AllocationRecord): void;
} {
  const byKey = new Map<string, AllocationRecord[]>();
  const add = (a: AllocationRecord): void => {
    const key = `${a.providerUuid}\u0000${a.resourceClass}`;
    const list = byKey.get(key);
    if (list) list.push(a);
    else byKey.set(key, [a]);
  };
  for (const a of allocations) add(a);
  return {
    add,
    used: (providerUuid, resourceClass, window) => {
      const list = byKey.get(`${providerUuid}\u0000${resourceClass}`);
      return list ? peakUsage(list, window) : 0;
    },
  };
}

/**
 * The peak concurrent sum of the allocations that overlap `window`. The sum only rises at an
 * allocation's start, so the peak is at the window start or at one of those starts. When no
 * overlapping allocation starts inside the window (the common case: everything running now),
 * the peak is simply their sum.
 */
export function peakUsage(allocations: readonly AllocationRecord[], window: Window): number {
  let sum = 0;
  let startsInside = false;
  for (const a of allocations) {
    if (!overlaps(a.window, window)) continue;
    sum += a.amount;
    if (a.window.start > window.start) startsInside = true;
  }
  if (!startsInside) return sum;
  const inWindow = allocations.filter((a) => overlaps(a.window, window));
  const instants = new Set<string>([window.start]);
  for (const a of inWindow) if (a.window.start > window.start) instants.add(a.window.start);
  let peak = 0;
  for (const t of instants) {
    let total = 0;
    for (const a of inWindow)
      if (a.window.start <= t && (a.window.end === null || t < a.window.end)) total += a.amount;
    if (total > peak) peak = total;
  }
  return peak;
}

/**
 * Per-search caches over a Snapshot: trait sets and sharing anchors. Every stage
 * of the candidate pipeline reads the snapshot through one SearchContext so each expensive
 * lookup happens once per search. Usage is read straight from the snapshot (the fleet index
 * answers the common window in O(1); a per-search cache cost more than it saved).
 */
import {
  capacityOf,
  fitsUnits,
  type InventoryRecord,
  type ProviderRecord,
  type QueryInput,
} from "../model.js";
import type { Snapshot } from "./snapshot.js";

/**
 * Capability sets per provider record. Records are immutable (the index replaces a changed
 * provider's record), so the set is built once per record, not once per search.
 */
const capabilitySets = new WeakMap<ProviderRecord, ReadonlySet<string>>();

/** Read-through caches shared by the stages of one search. */
export class SearchContext {
  private readonly anchorCache = new Map<string, readonly string[]>();
  /** The sharing providers (the snapshot keeps them listed): shares() without a record lookup. */
  private readonly sharing: ReadonlySet<string>;

  /**
   * `scope` bounds a search to some trees (the lazy search of candidates.ts works through the
   * trees a few at a time): `pool` is every provider of those trees plus the sharing providers,
   * by name; `roots` the trees a candidate may be anchored on.
   */
  constructor(
    readonly snapshot: Snapshot,
    readonly query: QueryInput,
    private readonly scope: { pool: readonly string[]; roots: ReadonlySet<string> } | null = null,
  ) {
    this.sharing = new Set(snapshot.sharingProviders());
  }

  /** True if a candidate may be anchored on this root in this search. */
  inScope(root: string): boolean {
    return this.scope === null || this.scope.roots.has(root);
  }

  provider(uuid: string): ProviderRecord {
    const p = this.snapshot.providers.get(uuid);
    if (!p) throw new Error(`provider ${uuid} is not in the snapshot`);
    return p;
  }

  /** Orders providers by name, then UUID: the one order every output follows. */
  readonly byName = (a: string, b: string): number => this.snapshot.rank(a) - this.snapshot.rank(b);

  /** The providers in byName order (a numeric sort of their ranks). */
  sortByName(uuids: Iterable<string>): string[] {
    const ranks = Int32Array.from(uuids, (u) => this.snapshot.rank(u)).sort();
    const all = this.snapshot.providersByName();
    return Array.from(ranks, (r) => all[r] as string);
  }

  /** Every provider in scope in byName order (the snapshot keeps that order). */
  providersByName(): readonly string[] {
    return this.scope ? this.scope.pool : this.snapshot.providersByName();
  }

  /** Peak usage of the class on the provider over the query's window. */
  used(uuid: string, resourceClass: string): number {
    return this.snapshot.used(uuid, resourceClass, this.query.window);
  }

  /** True when the search covers the whole fleet (no batch scope). */
  get whole(): boolean {
    return this.scope === null;
  }

  inventory(uuid: string, resourceClass: string): InventoryRecord | undefined {
    return this.provider(uuid).inventories.get(resourceClass);
  }

  /** One group's amount alone: min/max/step and free capacity (Placement's per-class query). */
  offers(uuid: string, resourceClass: string, amount: number): boolean {
    const inv = this.inventory(uuid, resourceClass);
    if (!inv || !fitsUnits(inv, amount)) return false;
    return this.used(uuid, resourceClass) + amount <= capacityOf(inv);
  }

  /**
   * A merged amount (`already` from earlier groups plus `amount`) against capacity − used and
   * max_unit, as Placement's final check of a consolidated request. Step needs no re-check:
   * each group's amount is a multiple of the step, so their sum is too.
   */
  fits(uuid: string, resourceClass: string, amount: number, already: number): boolean {
    const inv = this.inventory(uuid, resourceClass);
    if (!inv) return false;
    const total = already + amount;
    return total <= inv.maxUnit && this.used(uuid, resourceClass) + total <= capacityOf(inv);
  }

  capabilities(uuid: string): ReadonlySet<string> {
    const p = this.provider(uuid);
    let caps = capabilitySets.get(p);
    if (!caps) {
      caps = new Set(p.capabilities);
      capabilitySets.set(p, caps);
    }
    return caps;
  }

  /** True for a provider with MISC_SHARES_VIA_AGGREGATE. */
  shares(uuid: string): boolean {
    return this.sharing.has(uuid);
  }

  inRegion(uuid: string): boolean {
    const regions = this.query.regions;
    return regions === null || regions.has(this.provider(uuid).regionUuid);
  }

  /** True if the provider is in at least one of the groups. */
  inAny(uuid: string, groups: readonly string[]): boolean {
    const mine = this.provider(uuid).groups;
    return groups.some((g) => mine.includes(g));
  }

  /** True if the provider alone is in one group of every member_of set. */
  inAllSets(uuid: string, sets: readonly (readonly string[])[]): boolean {
    return sets.every((set) => this.inAny(uuid, set));
  }

  /**
   * Roots of every tree with a provider in a group the sharing provider is in (its own tree
   * included when it has a group): the trees it can "anchor" with, as Placement's
   * anchors_for_sharing_providers.
   */
  sharingAnchors(uuid: string): readonly string[] {
    let anchors = this.anchorCache.get(uuid);
    if (!anchors) {
      const roots = new Set<string>();
      for (const g of this.provider(uuid).groups)
        for (const member of this.snapshot.members(g)) roots.add(this.provider(member).rootUuid);
      anchors = [...roots];
      this.anchorCache.set(uuid, anchors);
    }
    return anchors;
  }

  /** Every provider of the tree rooted at `root`, depth first, children by name. */
  tree(root: string): readonly string[] {
    return this.snapshot.tree(root);
  }

  /** Ancestors of a provider, itself first, root last. */
  lineage(uuid: string): string[] {
    const out: string[] = [];
    let current: string | null = uuid;
    while (current !== null) {
      out.push(current);
      current = this.provider(current).parentUuid;
    }
    return out;
  }
}

/**
 * The fleet index (DESIGN.md §5): this process's in-memory copy of every provider, inventory,
 * capability, group membership and live allocation, which answers FindCandidates and ClaimBest's
 * search without SQL. It is built once at start and kept current from the change log:
 *
 * - this process's commits: after a transaction that appended changes commits, its providers are
 *   re-read (watch.ts notifyingStore awaits that, so a caller reads its own writes);
 * - every process's commits: the feed (repo/changes.ts) is read after another process's
 *   PostgreSQL NOTIFY, and every POLL_MS in any case, so another replica's claims show here
 *   within a bounded lag.
 *
 * Every update re-reads the changed providers' current rows, so applying a change twice or late
 * is harmless and the index converges on the database. All reads go through one queue of rounds:
 * a round starts after the requests it serves were made and applies its rows in one synchronous
 * step, so a search (synchronous too) never sees half a round, and an older read can never
 * overwrite a newer one. The index can be stale — a claim then fails its re-check in the
 * database and is retried — but never ahead of the database.
 */
import type { Logger } from "pino";
import { nowIso } from "../platform/ids.js";
import type { Store } from "../store/store.js";
import {
  type ChangeJournal,
  classLists,
  compareProviders,
  peakUsage,
  rankMap,
  type Snapshot,
  treeListing,
} from "./engine/snapshot.js";
import {
  type AllocationRecord,
  capacityOf,
  type GroupRecord,
  type ProviderRecord,
  SHARING_CAPABILITY,
  type Window,
} from "./model.js";
import {
  CHANGES_CHANNEL,
  type ChangeKind,
  type FeedCursor,
  feedAfter,
  feedStart,
} from "./repo/changes.js";
import {
  type AllocationRow,
  loadAllocationRows,
  loadConsumerAllocationRows,
  loadGroupRows,
  loadProviderRows,
  loadProviderUuids,
} from "./repo/claims.js";
import {
  allocationRecord,
  eachAllocationPage,
  groupRecord,
  loadRegistryRows,
  providerRecords,
  type SnapshotSource,
} from "./snapshot-loader.js";

/** How often the feed is read without a wake-up (the lag bound when a NOTIFY is lost). */
export const POLL_MS = 250;
/** Rows read from the feed per query. */
const FEED_BATCH = 5000;

/**
 * The live allocations of one class on one provider, with what answers the common window in
 * O(1): when every allocation is open-ended and started by `latest`, a window starting at or
 * after `latest` overlaps them all and their peak is their sum.
 */
interface ClassUsage {
  list: AllocationRecord[];
  sum: number;
  latest: string;
  open: boolean;
}

/**
 * One resource class across the fleet, providers by name: their inventories' capacity and
 * units as numbers, and each provider's usage map (kept, refilled in place), so stage 1's pass
 * over the fleet reads arrays instead of looking every provider up.
 */
interface ClassColumn {
  uuids: readonly string[];
  capacity: Float64Array;
  minUnit: Float64Array;
  maxUnit: Float64Array;
  stepSize: Float64Array;
  usage: Map<string, ClassUsage>[];
}

/** A waiter for the round that serves its request. */
interface Ticket {
  ticket: number;
  resolve: () => void;
}

export interface FleetIndexOptions {
  store: Store;
  logger: Logger;
  /** Called after a round applied feed rows (wakes WatchProviders streams). */
  onFeed?: () => void;
}

/** Rounds of usage changes the journal remembers (kept searches older than that are redone). */
const JOURNAL_ROUNDS = 1024;

export class FleetIndex implements Snapshot, SnapshotSource, ChangeJournal {
  readonly providers = new Map<string, ProviderRecord>();
  readonly children = new Map<string, string[]>();
  readonly groups = new Map<string, GroupRecord>();
  /** provider → class → allocations not ended when last read. */
  private readonly allocations = new Map<string, Map<string, ClassUsage>>();
  private readonly byConsumer = new Map<string, Set<string>>();
  private readonly byGroup = new Map<string, Set<string>>();
  /** Providers per capability name. */
  private readonly capabilityCounts = new Map<string, number>();
  private readonly memberLists = new Map<string, readonly string[]>();
  private byName: readonly string[] | null = null;
  private ranks: Map<string, number> | null = null;
  private columns: Map<string, ClassColumn> | null = null;
  /** Tree listings by root (cleared when any provider changes). */
  private readonly trees = new Map<string, readonly string[]>();
  private roots: readonly string[] | null = null;
  private sharing: readonly string[] | null = null;

  private cursor: FeedCursor = { seq: 0, running: [] };
  private readonly full = new Set<string>();
  private readonly usage = new Set<string>();
  /** Providers whose only pending change is new consumers' rows: provider → consumers. */
  private readonly added = new Map<string, Set<string>>();
  private feedWanted = false;
  /**
   * Numbers of change rows this process committed and refresh() applies: the feed skips them
   * (re-reading every allocation of a busy provider after each poll cost 14 ms a round). Those
   * at or below the cursor are forgotten after each feed read.
   */
  private readonly applied = new Set<number>();
  private requested = 0;
  private served = 0;
  private waiting: Ticket[] = [];
  private pumping = false;
  private timer: NodeJS.Timeout | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  private closed = false;
  /** Completed rounds (tests and metrics read it). */
  rounds = 0;
  /** See ChangeJournal. */
  shape = 0;
  /** The latest end of any allocation held so far (see ChangeJournal). */
  latestEnd: string | null = null;
  /** Usage-only rounds, oldest first: the round and the roots whose usage it changed. */
  private journal: { round: number; roots: readonly string[] }[] = [];
  /** The latest round dropped from the journal. */
  private journalFloor = 0;

  constructor(private readonly options: FleetIndexOptions) {}

  /** Loads the whole fleet, then follows the feed (LISTEN + poll). */
  async start(): Promise<void> {
    const { store } = this.options;
    await store.transaction(async (tx) => {
      this.cursor = await feedStart(store, tx);
      const now = nowIso();
      const rows = await loadRegistryRows(tx);
      // Rows come with a string per field; the index keeps one copy of each repeated value
      // (capability names, classes, windows; a consumer's UUID across its neighbouring rows) so
      // half a million allocations stay lean.
      const intern = interner();
      const windows = new Map<string, Window>();
      for (const g of rows.groups) this.groups.set(g.uuid, groupRecord(g));
      for (const p of providerRecords(rows))
        this.putProvider(p.uuid, { ...p, capabilities: p.capabilities.map(intern) });
      // Rows come in insertion order, so a consumer's rows (one claim) are usually neighbours:
      // the previous row's consumer and window strings are reused without a lookup.
      let last: AllocationRecord | undefined;
      let lastConsumer = "";
      let lastStart = "";
      let lastEnd = "";
      await eachAllocationPage(tx, store.dialect, now, (page) => {
        for (const row of page) {
          const providerUuid = this.providers.get(row.provider_uuid)?.uuid ?? row.provider_uuid;
          let window =
            last && row.window_start === lastStart && row.window_end === lastEnd
              ? last.window
              : undefined;
          if (!window) {
            const key = `${row.window_start}\u0000${row.window_end}`;
            window = windows.get(key);
            if (!window) {
              window = allocationRecord(row).window;
              windows.set(key, window);
            }
          }
          const a: AllocationRecord = {
            consumerUuid:
              last && row.consumer_uuid === lastConsumer ? last.consumerUuid : row.consumer_uuid,
            providerUuid,
            resourceClass: intern(row.resource_class),
            amount: row.amount,
            window,
          };
          this.appendAllocation(providerUuid, a);
          last = a;
          lastConsumer = row.consumer_uuid;
          lastStart = row.window_start;
          lastEnd = row.window_end;
        }
      });
    });
    // This process's own commits are applied by refresh() as they commit: only other
    // processes' notifications need a read of the feed (the poll still reads it).
    this.unlisten = await store.listen(CHANGES_CHANNEL, () => void this.follow(), {
      othersOnly: true,
    });
    this.timer = setInterval(() => void this.follow(), POLL_MS);
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.unlisten?.();
  }

  async snapshot(): Promise<Snapshot> {
    return this;
  }

  /**
   * Re-reads these providers (a commit of this process touched them); resolves when the index
   * holds their state as of a moment after the call. "usage" re-reads allocations only, and of
   * a provider in `added` only the rows of those (new) consumers. `seqs`: the numbers of the
   * change rows that commit appended, which the feed then skips (this re-read applies them).
   */
  refresh(
    changes: ReadonlyMap<string, ChangeKind>,
    added: ReadonlyMap<string, ReadonlySet<string>> = new Map(),
    seqs: readonly number[] = [],
  ): Promise<void> {
    for (const seq of seqs) this.applied.add(seq);
    for (const [uuid, kind] of changes) {
      const consumers = kind === "usage" ? added.get(uuid) : undefined;
      if (consumers && !this.usage.has(uuid) && !this.full.has(uuid)) {
        const pending = this.added.get(uuid);
        if (pending) for (const c of consumers) pending.add(c);
        else this.added.set(uuid, new Set(consumers));
      } else {
        (kind === "usage" ? this.usage : this.full).add(uuid);
        this.added.delete(uuid);
      }
    }
    return this.request();
  }

  /** Reads the feed (another process may have committed); resolves when that round is done. */
  follow(): Promise<void> {
    this.feedWanted = true;
    return this.request();
  }

  // ---- Snapshot ----

  providersByName(): readonly string[] {
    this.byName ??= [...this.providers.values()].sort(compareProviders).map((p) => p.uuid);
    return this.byName;
  }

  rank(providerUuid: string): number {
    this.ranks ??= rankMap(this.providersByName());
    return this.ranks.get(providerUuid) ?? -1;
  }

  offering(resourceClass: string, amount: number, window: Window): string[] {
    this.columns ??= this.buildColumns();
    const col = this.columns.get(resourceClass);
    const out: string[] = [];
    if (!col) return out;
    const { capacity, minUnit, maxUnit, stepSize, usage, uuids } = col;
    for (let i = 0; i < uuids.length; i++) {
      if (amount < (minUnit[i] as number) || amount > (maxUnit[i] as number)) continue;
      if (amount % (stepSize[i] as number) !== 0) continue;
      const u = usage[i]?.get(resourceClass);
      const used =
        u === undefined
          ? 0
          : u.open && window.start >= u.latest
            ? u.sum
            : peakUsage(u.list, window);
      if (used + amount <= (capacity[i] as number)) out.push(uuids[i] as string);
    }
    return out;
  }

  /** Every class's column, providers by name (rebuilt after any provider changed). */
  private buildColumns(): Map<string, ClassColumn> {
    const lists = classLists(this.providersByName(), this.providers);
    const columns = new Map<string, ClassColumn>();
    for (const [rc, uuids] of lists) {
      const n = uuids.length;
      const col: ClassColumn = {
        uuids,
        capacity: new Float64Array(n),
        minUnit: new Float64Array(n),
        maxUnit: new Float64Array(n),
        stepSize: new Float64Array(n),
        usage: new Array(n),
      };
      uuids.forEach((uuid, i) => {
        const inv = this.providers.get(uuid)?.inventories.get(rc);
        if (!inv) return;
        col.capacity[i] = capacityOf(inv);
        col.minUnit[i] = inv.minUnit;
        col.maxUnit[i] = inv.maxUnit;
        col.stepSize[i] = inv.stepSize;
        col.usage[i] = this.usageOf(uuid);
      });
      columns.set(rc, col);
    }
    return columns;
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
    let list = this.memberLists.get(groupUuid);
    if (!list) {
      list = [...(this.byGroup.get(groupUuid) ?? [])];
      this.memberLists.set(groupUuid, list);
    }
    return list;
  }

  used(providerUuid: string, resourceClass: string, window: Window): number {
    const usage = this.allocations.get(providerUuid)?.get(resourceClass);
    if (!usage) return 0;
    if (usage.open && window.start >= usage.latest) return usage.sum;
    return peakUsage(usage.list, window);
  }

  consumerProviders(consumerUuid: string): readonly string[] {
    return [...(this.byConsumer.get(consumerUuid) ?? [])];
  }

  hasCapability(name: string): boolean {
    return (this.capabilityCounts.get(name) ?? 0) > 0;
  }

  usageChangedSince(round: number): ReadonlySet<string> | null {
    if (round < this.journalFloor) return null;
    const roots = new Set<string>();
    for (let i = this.journal.length - 1; i >= 0; i--) {
      const entry = this.journal[i] as { round: number; roots: readonly string[] };
      if (entry.round <= round) break;
      for (const r of entry.roots) roots.add(r);
    }
    return roots;
  }

  /**
   * Journals a round that was applied: a change of shape (see ChangeJournal), or the roots of
   * the trees whose usage changed.
   */
  private journalRound(full: readonly string[], usage: Iterable<string>): void {
    const roots = new Set<string>();
    let shaped = full.length > 0;
    for (const u of usage) {
      const p = this.providers.get(u);
      if (!p) continue;
      if (p.capabilities.includes(SHARING_CAPABILITY)) shaped = true;
      roots.add(p.rootUuid);
    }
    if (shaped) {
      this.shape++;
      return;
    }
    this.journal.push({ round: this.rounds, roots: [...roots] });
    if (this.journal.length > JOURNAL_ROUNDS) {
      const dropped = this.journal.splice(0, this.journal.length - JOURNAL_ROUNDS / 2);
      this.journalFloor = dropped[dropped.length - 1]?.round ?? this.journalFloor;
    }
  }

  // ---- rounds ----

  private request(): Promise<void> {
    if (this.closed) return Promise.resolve();
    const ticket = ++this.requested;
    const done = new Promise<void>((resolve) => this.waiting.push({ ticket, resolve }));
    void this.pump();
    return done;
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.served < this.requested && !this.closed) {
        const target = this.requested;
        const full = [...this.full];
        const usage = [...this.usage].filter((u) => !this.full.has(u));
        const added = new Map(this.added);
        const feed = this.feedWanted;
        this.full.clear();
        this.usage.clear();
        this.added.clear();
        this.feedWanted = false;
        try {
          await this.round(full, usage, added, feed);
        } catch (err) {
          // Keep what this round should have read; the next poll tries again (all of each
          // provider: simplest, and a failed round is rare).
          for (const u of full) this.full.add(u);
          for (const u of usage) this.usage.add(u);
          for (const u of added.keys()) this.usage.add(u);
          this.feedWanted ||= feed;
          this.options.logger.warn({ err }, "fleet index: refresh failed, retrying on next poll");
        }
        this.served = target;
        const ready = this.waiting.filter((w) => w.ticket <= target);
        this.waiting = this.waiting.filter((w) => w.ticket > target);
        for (const w of ready) w.resolve();
      }
    } finally {
      this.pumping = false;
    }
  }

  /**
   * One round: read the feed (if asked), re-read every provider named (of those in `added`,
   * only the new consumers' rows), apply at once.
   */
  private async round(
    full: string[],
    usage: string[],
    added: Map<string, Set<string>>,
    feed: boolean,
  ): Promise<void> {
    const { store } = this.options;
    const db = store.readDb;
    const fullSet = new Set(full);
    const usageSet = new Set(usage);
    let cursor = this.cursor;
    let fed = false;
    let truncated = false;
    if (feed) {
      for (;;) {
        const batch = await feedAfter(store, db, cursor, FEED_BATCH);
        truncated ||= batch.truncated;
        for (const row of batch.rows) {
          if (this.applied.has(row.seq)) continue;
          if (row.change === "usage") usageSet.add(row.provider_uuid);
          else fullSet.add(row.provider_uuid);
        }
        fed ||= batch.rows.length > 0;
        cursor = batch.cursor;
        if (!batch.more) break;
      }
      for (const seq of this.applied) if (seq <= cursor.seq) this.applied.delete(seq);
    }
    if (truncated) {
      // Changes this index never read were pruned (it fell behind the log's retention): read
      // every provider again, those it holds and those in the database.
      this.options.logger.warn("fleet index: fell behind the change log, reading the whole fleet");
      for (const u of this.providers.keys()) fullSet.add(u);
      for (const u of await loadProviderUuids(db)) fullSet.add(u);
    }
    for (const u of fullSet) usageSet.delete(u);
    for (const u of [...fullSet, ...usageSet]) added.delete(u);
    if (fullSet.size === 0 && usageSet.size === 0 && added.size === 0) {
      this.cursor = cursor;
      if (fed) this.options.onFeed?.();
      return;
    }
    const fullList = [...fullSet];
    const now = nowIso();
    const newConsumers = new Set<string>();
    for (const consumers of added.values()) for (const c of consumers) newConsumers.add(c);
    const [rows, allocationRows, addedRows] = await Promise.all([
      loadProviderRows(db, fullList),
      loadAllocationRows(db, [...fullList, ...usageSet], now),
      loadConsumerAllocationRows(db, [...newConsumers], now),
    ]);
    // Groups are read when first met, and all of them again after a truncated feed.
    const unknownGroups = [
      ...new Set(
        rows.memberships.map((m) => m.group_uuid).filter((g) => truncated || !this.groups.has(g)),
      ),
    ];
    const groupRows = await loadGroupRows(db, unknownGroups);
    // Apply in one synchronous step.
    for (const g of groupRows) this.groups.set(g.uuid, groupRecord(g));
    const records = new Map(providerRecords(rows).map((p) => [p.uuid, p]));
    for (const uuid of fullList) this.putProvider(uuid, records.get(uuid));
    for (const [uuid, list] of byProvider([...fullList, ...usageSet], allocationRows))
      this.putAllocations(uuid, list);
    const isAdded = (row: AllocationRow) => added.get(row.provider_uuid)?.has(row.consumer_uuid);
    for (const [uuid, list] of byProvider(added.keys(), addedRows.filter(isAdded)))
      this.addAllocations(uuid, added.get(uuid) ?? new Set(), list);
    this.cursor = cursor;
    this.rounds++;
    this.journalRound(fullList, [...usageSet, ...added.keys()]);
    if (fed) this.options.onFeed?.();
  }

  /** Replaces (or, with undefined, removes) one provider, keeping the side maps true. */
  private putProvider(uuid: string, record: ProviderRecord | undefined): void {
    const old = this.providers.get(uuid);
    const oldParent = old?.parentUuid ?? null;
    const newParent = record?.parentUuid ?? null;
    if (old && (oldParent !== newParent || !record) && oldParent !== null) {
      const siblings = this.children.get(oldParent)?.filter((c) => c !== uuid) ?? [];
      if (siblings.length > 0) this.children.set(oldParent, siblings);
      else this.children.delete(oldParent);
    }
    if (record && newParent !== null && (!old || oldParent !== newParent)) {
      const siblings = this.children.get(newParent);
      if (siblings) siblings.push(uuid);
      else this.children.set(newParent, [uuid]);
    }
    for (const c of old?.capabilities ?? []) {
      const n = (this.capabilityCounts.get(c) ?? 0) - 1;
      if (n > 0) this.capabilityCounts.set(c, n);
      else this.capabilityCounts.delete(c);
    }
    for (const c of record?.capabilities ?? [])
      this.capabilityCounts.set(c, (this.capabilityCounts.get(c) ?? 0) + 1);
    const oldGroups = old?.groups ?? [];
    const newGroups = record?.groups ?? [];
    for (const g of oldGroups)
      if (!newGroups.includes(g)) {
        this.byGroup.get(g)?.delete(uuid);
        this.memberLists.delete(g);
      }
    for (const g of newGroups)
      if (!oldGroups.includes(g)) {
        const set = this.byGroup.get(g);
        if (set) set.add(uuid);
        else this.byGroup.set(g, new Set([uuid]));
        this.memberLists.delete(g);
      }
    if (!old || !record || old.name !== record.name) {
      this.byName = null;
      this.ranks = null;
    }
    this.columns = null;
    this.trees.clear();
    if (!old || !record || old.name !== record.name || oldParent !== newParent) this.roots = null;
    if (
      !old ||
      !record ||
      old.name !== record.name ||
      old.capabilities.includes(SHARING_CAPABILITY) !==
        record.capabilities.includes(SHARING_CAPABILITY)
    )
      this.sharing = null;
    if (record) this.providers.set(uuid, record);
    else {
      this.providers.delete(uuid);
      this.putAllocations(uuid, []);
      this.allocations.delete(uuid);
    }
  }

  /**
   * Sets the live allocations of `consumers` on one provider to `list` (their rows as read now:
   * none if they were removed meanwhile), keeping everyone else's. Appends when the provider
   * holds nothing of theirs yet (the usual case: new consumers), else rebuilds its list.
   */
  private addAllocations(
    uuid: string,
    consumers: ReadonlySet<string>,
    list: readonly AllocationRecord[],
  ): void {
    const known = [...consumers].some((c) => this.byConsumer.get(c)?.has(uuid));
    if (known) {
      const kept: AllocationRecord[] = [];
      for (const usage of this.allocations.get(uuid)?.values() ?? [])
        for (const a of usage.list) if (!consumers.has(a.consumerUuid)) kept.push(a);
      this.putAllocations(uuid, [...kept, ...list]);
      return;
    }
    for (const a of list) this.appendAllocation(uuid, a);
  }

  /** Replaces the live allocations of one provider. */
  private putAllocations(uuid: string, list: readonly AllocationRecord[]): void {
    const old = this.allocations.get(uuid);
    if (old)
      for (const usage of old.values())
        for (const a of usage.list) {
          const set = this.byConsumer.get(a.consumerUuid);
          set?.delete(uuid);
          if (set?.size === 0) this.byConsumer.delete(a.consumerUuid);
        }
    old?.clear();
    for (const a of list) this.appendAllocation(uuid, a);
  }

  /**
   * A provider's usage by class, made empty on first use. The map is kept and refilled in place,
   * never replaced: the class columns hold it.
   */
  private usageOf(uuid: string): Map<string, ClassUsage> {
    let byClass = this.allocations.get(uuid);
    if (!byClass) {
      byClass = new Map();
      this.allocations.set(uuid, byClass);
    }
    return byClass;
  }

  /** Adds one allocation to one provider's usage by class (and to the consumer map). */
  private appendAllocation(uuid: string, a: AllocationRecord): void {
    const end = a.window.end;
    if (end !== null && (this.latestEnd === null || end > this.latestEnd)) this.latestEnd = end;
    const byClass = this.usageOf(uuid);
    const usage = byClass.get(a.resourceClass);
    if (usage) {
      usage.list.push(a);
      usage.sum += a.amount;
      if (a.window.start > usage.latest) usage.latest = a.window.start;
      usage.open &&= a.window.end === null;
    } else
      byClass.set(a.resourceClass, {
        list: [a],
        sum: a.amount,
        latest: a.window.start,
        open: a.window.end === null,
      });
    const set = this.byConsumer.get(a.consumerUuid);
    if (set) set.add(uuid);
    else this.byConsumer.set(a.consumerUuid, new Set([uuid]));
  }
}

/** Rows as records, one list per provider of `uuids` (empty if it has none); others left out. */
function byProvider(
  uuids: Iterable<string>,
  rows: readonly AllocationRow[],
): Map<string, AllocationRecord[]> {
  const out = new Map<string, AllocationRecord[]>();
  for (const uuid of uuids) out.set(uuid, []);
  for (const row of rows) out.get(row.provider_uuid)?.push(allocationRecord(row));
  return out;
}

/** One shared copy of each equal string seen (for a bulk load; dropped after it). */
function interner(): (s: string) => string {
  const seen = new Map<string, string>();
  return (s) => {
    const known = seen.get(s);
    if (known !== undefined) return known;
    seen.set(s, s);
    return s;
  };
}

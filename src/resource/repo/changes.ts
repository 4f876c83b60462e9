/**
 * The provider change log (resource_changes), written by the registry and the claims alike and
 * read as a feed by every process's fleet index and by WatchProviders.
 *
 * The database numbers the rows (SQLite's rowid, PostgreSQL's sequence), so concurrent writers
 * never conflict on the log. On SQLite one transaction commits at a time, so number order is
 * commit order and the cursor is simply the last number read. On PostgreSQL a transaction
 * holding a lower number may commit after one holding a higher number: each row records its
 * transaction id, and a reader remembers which transactions were still running when it read,
 * so that it picks up their rows when they commit (see feedAfter).
 */
import { type Kysely, sql } from "kysely";
import type { Database } from "../../store/database.js";
import type { Store } from "../../store/store.js";

type Db = Kysely<Database>;

/** One logged change. */
export interface ChangeRow {
  seq: number;
  provider_uuid: string;
  change: string;
  at: string;
}

/** The NOTIFY channel that wakes other processes after a commit that appended changes. */
export const CHANGES_CHANNEL = "mulligan_resource_changes";

/** What a transaction appended (see Appended), by handle. */
const appendedThrough = new WeakMap<Db, Appended>();

/** What one transaction appended to the log, so its commit can refresh indexes and wake watchers. */
export interface Appended {
  /** The providers changed, with the strongest kind per provider. */
  changes: Map<string, ChangeKind>;
  /**
   * Of the providers with a "usage" change, those whose every change in the transaction was a
   * new consumer's allocations (ClaimBest, a first Claim), with those consumers: the fleet index
   * then reads just their rows instead of every allocation of the provider.
   */
  added: Map<string, Set<string>>;
  /**
   * The numbers of the rows appended: once the transaction committed, the fleet index applies
   * them from `changes` and skips them when it reads the feed.
   */
  seqs: number[];
}

/** What a transaction appended, or undefined if it appended nothing. watch.ts asks after the commit. */
export function appendedIn(db: Db): Appended | undefined {
  return appendedThrough.get(db);
}

/** What changed: the provider itself, its inventories, or the usage of it (claims). */
export type ChangeKind = "created" | "updated" | "inventory" | "usage" | "deleted";

/** Appends one change per provider (each once, in UUID order) inside the caller's transaction. */
export async function appendChanges(
  store: Store,
  db: Db,
  providerUuids: readonly string[],
  change: ChangeKind,
  at: string,
): Promise<void> {
  const providers = [...new Set(providerUuids)].sort();
  if (providers.length === 0) return;
  noteRows(db, await insertChanges(store, db, providers, change, at));
  noteChanges(db, providers, change);
}

/**
 * The 'usage' changes of several new consumers' allocations in one statement (the claim lane's
 * batch): one row per provider, and each consumer remembered (Appended.added): the change of
 * those providers is only that consumer's new rows, which the index adds without reading them.
 */
export async function appendNewConsumers(
  store: Store,
  db: Db,
  providersOf: ReadonlyMap<string, readonly string[]>,
  at: string,
): Promise<void> {
  const all = new Set<string>();
  for (const list of providersOf.values()) for (const p of list) all.add(p);
  if (all.size === 0) return;
  noteRows(db, await insertChanges(store, db, [...all].sort(), "usage", at));
  for (const [consumer, list] of providersOf)
    noteChanges(db, [...new Set(list)].sort(), "usage", consumer);
}

/** Inserts one row per provider; returns their numbers. */
async function insertChanges(
  store: Store,
  db: Db,
  providers: readonly string[],
  change: ChangeKind,
  at: string,
): Promise<number[]> {
  if (store.serialCommits) {
    const rows = await db
      .insertInto("resource_changes")
      .values(providers.map((provider_uuid) => ({ provider_uuid, change, at })))
      .returning("seq")
      .execute();
    return rows.map((r) => Number(r.seq));
  }
  // PostgreSQL: the transaction takes its id (the materialized CTE) before the rows take their
  // numbers, so a reader that saw it neither committed nor running sees only higher numbers.
  const { rows } = await sql<{ seq: string | number }>`
    WITH me AS MATERIALIZED (SELECT pg_current_xact_id() AS txid)
    INSERT INTO resource_changes (txid, provider_uuid, change, at)
    SELECT me.txid, p, ${change}, ${at} FROM me, unnest(${providers}::text[]) AS p
    RETURNING seq`.execute(db);
  return rows.map((r) => Number(r.seq));
}

/** What the transaction appended so far, made empty on first use. */
function appendedOf(db: Db): Appended {
  let appended = appendedThrough.get(db);
  if (!appended) {
    appended = { changes: new Map(), added: new Map(), seqs: [] };
    appendedThrough.set(db, appended);
  }
  return appended;
}

/** Remembers the numbers of the rows the transaction appended. */
function noteRows(db: Db, seqs: readonly number[]): void {
  const all = appendedOf(db).seqs;
  for (const s of seqs) all.push(s);
}

/** Remembers what the transaction appended, for appendedIn after its commit. */
function noteChanges(
  db: Db,
  providers: readonly string[],
  change: ChangeKind,
  /** The change is only this new consumer's rows (see Appended.added). */
  added?: string,
): void {
  const { changes: seen, added: adds } = appendedOf(db);
  for (const p of providers) {
    const before = seen.get(p);
    if (before === undefined || STRENGTH[change] > STRENGTH[before]) seen.set(p, change);
    // Only additions so far, and this one too: remember the consumer; anything else: re-read.
    if (change === "usage" && added !== undefined && (before === undefined || adds.has(p))) {
      const consumers = adds.get(p);
      if (consumers) consumers.add(added);
      else adds.set(p, new Set([added]));
    } else adds.delete(p);
  }
}

/**
 * Which kind wins when a transaction logs several for one provider: a "usage" change re-reads
 * only allocations, so it must never hide an inventory or provider change (Reshape logs both).
 */
const STRENGTH: Record<ChangeKind, number> = {
  usage: 0,
  inventory: 1,
  updated: 1,
  created: 1,
  deleted: 2,
};

/**
 * Where a reader of the log stands: every row up to `seq` was read, and (PostgreSQL) the
 * transactions still running at that read, whose rows may later commit with a number at or
 * below `seq`.
 */
export interface FeedCursor {
  seq: number;
  /** PostgreSQL only: transaction ids (xid8, as text) in progress at the last read. */
  running: readonly string[];
}

/** The position of "now": every change committed before the call is before it. */
export async function feedStart(store: Store, db: Db): Promise<FeedCursor> {
  if (store.serialCommits) {
    const top = await db
      .selectFrom("resource_changes")
      .select((eb) => eb.fn.max("seq").as("seq"))
      .executeTakeFirst();
    return { seq: Number(top?.seq ?? 0), running: [] };
  }
  // One statement, one snapshot: the last number visible and who was still running.
  const { rows } = await sql<{ seq: string | number | null; running: string[] }>`
    SELECT (SELECT max(seq) FROM resource_changes) AS seq,
           ARRAY(SELECT pg_snapshot_xip(pg_current_snapshot())::text) AS running`.execute(db);
  return { seq: Number(rows[0]?.seq ?? 0), running: rows[0]?.running ?? [] };
}

/** A batch of changes after `cursor` and the cursor after them. */
export interface FeedBatch {
  rows: ChangeRow[];
  cursor: FeedCursor;
  /** More rows are waiting (the batch was full): read again at once. */
  more: boolean;
  /**
   * Rows after the cursor were pruned before this reader read them (it fell more than
   * CHANGE_LOG_RETENTION_MS behind): what it holds may be stale in ways the feed no longer
   * says. Seen when no row numbered at or below the cursor's next is left (pruneChanges
   * always keeps the newest); a gap in the numbers just there (a rolled-back PostgreSQL
   * transaction) also says so, which costs the reader a full read, never a missed change.
   */
  truncated: boolean;
}

/** Changes are kept this long; a reader further behind must read everything again. */
export const CHANGE_LOG_RETENTION_MS = 3600 * 1000;

/**
 * Deletes the changes up to the last one older than `retentionMs`, in number order (a prefix
 * of the log, so a reader behind it can tell: FeedBatch.truncated), always keeping the newest
 * row. Returns how many went.
 */
export async function pruneChanges(
  store: Store,
  retentionMs = CHANGE_LOG_RETENTION_MS,
): Promise<number> {
  const cutoff = new Date(Date.now() - retentionMs).toISOString();
  const result = await store.db
    .deleteFrom("resource_changes")
    .where("seq", "<=", (eb) =>
      eb
        .selectFrom("resource_changes")
        .where("at", "<", cutoff)
        .select((e) => e.fn.max("seq").as("old")),
    )
    .where("seq", "<", (eb) =>
      eb.selectFrom("resource_changes").select((e) => e.fn.max("seq").as("newest")),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Whether rows after `cursor` were pruned, given the lowest number left (none: the log is empty). */
const prunedAfter = (cursor: FeedCursor, lowest: string | number | null | undefined) =>
  lowest != null && Number(lowest) > cursor.seq + 1;

/**
 * Reads the changes committed since `cursor`: up to `limit` rows numbered after it, plus every
 * row of a transaction that was running at the last read (it may carry a lower number).
 * PostgreSQL hands out numbers before commit, so number order is not commit order; what makes
 * this complete is that every transaction is either visible to this read, in its list of
 * running transactions, or takes its number after the read (appendChanges makes a transaction
 * take its id before its number). A row may be read twice; readers re-read state, so that is
 * harmless. Unlike waiting for every older transaction to end, a long transaction elsewhere on
 * the server (another database, an idle session) delays nothing.
 */
export async function feedAfter(
  store: Store,
  db: Db,
  cursor: FeedCursor,
  limit: number,
): Promise<FeedBatch> {
  if (store.serialCommits) {
    const rows = await db
      .selectFrom("resource_changes")
      .select(["seq", "provider_uuid", "change", "at"])
      .where("seq", ">", cursor.seq)
      .orderBy("seq")
      .limit(limit)
      .execute();
    // After the rows: a prune in between can only make this say "truncated" needlessly.
    const lowest = await db
      .selectFrom("resource_changes")
      .select((eb) => eb.fn.min("seq").as("seq"))
      .executeTakeFirst();
    const last = rows.at(-1);
    return {
      rows,
      cursor: last ? { seq: last.seq, running: [] } : cursor,
      more: rows.length === limit,
      truncated: prunedAfter(cursor, lowest?.seq),
    };
  }
  // One statement, one snapshot: the late rows of transactions running at the last read, the
  // rows after the cursor, and who is running now.
  const { rows } = await sql<{
    part: number;
    seq: string | number | null;
    provider_uuid: string;
    change: string;
    at: string;
    running: string[] | null;
  }>`
    SELECT 0 AS part, seq, provider_uuid, change, at, NULL::text[] AS running
      FROM resource_changes
      WHERE seq <= ${cursor.seq} AND txid = ANY(${[...cursor.running]}::xid8[])
    UNION ALL
    SELECT * FROM (
      SELECT 1 AS part, seq, provider_uuid, change, at, NULL::text[] AS running
        FROM resource_changes WHERE seq > ${cursor.seq} ORDER BY seq LIMIT ${limit}) later
    UNION ALL
    SELECT 2 AS part, (SELECT min(seq) FROM resource_changes), NULL, NULL, NULL,
           ARRAY(SELECT pg_snapshot_xip(pg_current_snapshot())::text)`.execute(db);
  const out: ChangeRow[] = [];
  let seq = cursor.seq;
  let later = 0;
  let running: readonly string[] = cursor.running;
  let lowest: string | number | null = null;
  for (const r of rows) {
    if (r.part === 2) {
      // This row carries who is running and the lowest number left.
      running = r.running ?? [];
      lowest = r.seq;
      continue;
    }
    const n = Number(r.seq);
    if (r.part === 1) {
      later++;
      if (n > seq) seq = n;
    }
    out.push({ seq: n, provider_uuid: r.provider_uuid, change: r.change, at: r.at });
  }
  out.sort((a, b) => a.seq - b.seq);
  return {
    rows: out,
    cursor: { seq, running },
    more: later === limit,
    truncated: prunedAfter(cursor, lowest),
  };
}

/**
 * The provider change log (resource_changes), written by the registry and the claims alike and
 * read as a feed by every process's fleet index and by WatchProviders.
 *
 * The database numbers the rows (SQLite's rowid, PostgreSQL's sequence), so concurrent writers
 * never conflict on the log. Reading it in order needs care on PostgreSQL, where a transaction
 * holding a lower number may commit after one holding a higher number: each row records its
 * transaction id, and a reader takes only rows of transactions older than every transaction
 * still running (pg_snapshot_xmin), in (txid, seq) order. Such rows are final: nothing can
 * commit before them any more. SQLite commits one transaction at a time, so seq order is commit
 * order and the cursor is simply the last seq read.
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

/** What a transaction appended, by handle, so its commit can refresh indexes and wake watchers. */
const appendedThrough = new WeakMap<Db, Map<string, ChangeKind>>();

/**
 * The providers a transaction appended changes for (with the strongest kind per provider), or
 * undefined if it appended none. watch.ts asks after the commit.
 */
export function appendedIn(db: Db): ReadonlyMap<string, ChangeKind> | undefined {
  return appendedThrough.get(db);
}

/** What changed: the provider itself, its inventories, or the usage of it (claims). */
export type ChangeKind = "created" | "updated" | "inventory" | "usage" | "deleted";

/** Appends one change per provider (each once, in UUID order) inside the caller's transaction. */
export async function appendChanges(
  _store: Store,
  db: Db,
  providerUuids: readonly string[],
  change: ChangeKind,
  at: string,
): Promise<void> {
  const providers = [...new Set(providerUuids)].sort();
  if (providers.length === 0) return;
  await db
    .insertInto("resource_changes")
    .values(providers.map((provider_uuid) => ({ provider_uuid, change, at })))
    .execute();
  let seen = appendedThrough.get(db);
  if (!seen) {
    seen = new Map();
    appendedThrough.set(db, seen);
  }
  for (const p of providers) {
    const before = seen.get(p);
    if (before === undefined || STRENGTH[change] > STRENGTH[before]) seen.set(p, change);
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

/** Where a reader of the log stands: after `seq` (SQLite), or after (txid, seq) (PostgreSQL). */
export interface FeedCursor {
  seq: number;
  /** PostgreSQL only: the transaction id of the last row read, as text. */
  txid: string | null;
  /**
   * PostgreSQL only: rows past the cursor that had already committed when the reader started
   * (a transaction newer than the horizon committed before an older one); they are skipped.
   */
  seen?: ReadonlySet<number>;
}

/** The position of "now": every change committed before the call is before it. */
export async function feedStart(store: Store, db: Db): Promise<FeedCursor> {
  if (store.serialCommits) {
    const top = await db
      .selectFrom("resource_changes")
      .select((eb) => eb.fn.max("seq").as("seq"))
      .executeTakeFirst();
    return { seq: Number(top?.seq ?? 0), txid: null };
  }
  // One statement, one snapshot: the horizon and the rows beyond it already visible.
  const { rows } = await sql<{ horizon: string; seen: (number | string)[] }>`
    SELECT h.horizon::text AS horizon,
           ARRAY(SELECT seq FROM resource_changes WHERE txid >= h.horizon) AS seen
    FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS horizon) h`.execute(db);
  const row = rows[0];
  // (horizon, -1): every row of a transaction at or after the horizon is past the cursor.
  return { seq: -1, txid: row?.horizon ?? "0", seen: new Set((row?.seen ?? []).map(Number)) };
}

/** A batch of final changes after `cursor`, oldest first, and the cursor after them. */
export interface FeedBatch {
  rows: ChangeRow[];
  cursor: FeedCursor;
  /** PostgreSQL: rows exist that are committed or running but not yet final (read again soon). */
  pending: boolean;
}

/** Reads up to `limit` final changes after `cursor`. */
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
    const last = rows.at(-1);
    return { rows, cursor: last ? { seq: last.seq, txid: null } : cursor, pending: false };
  }
  const txid = cursor.txid ?? "0";
  const { rows } = await sql<ChangeRow & { txid: string; final: boolean }>`
    SELECT seq, provider_uuid, change, at, txid::text AS txid,
           txid < pg_snapshot_xmin(pg_current_snapshot()) AS final
    FROM resource_changes
    WHERE (txid, seq) > (${txid}::xid8, ${cursor.seq})
    ORDER BY txid, seq
    LIMIT ${limit + 1}`.execute(db);
  const final: ChangeRow[] = [];
  const seen = cursor.seen;
  let next: FeedCursor = cursor;
  let pending = false;
  for (const r of rows) {
    if (!r.final) {
      pending = true;
      break;
    }
    if (final.length === limit) break;
    const seq = Number(r.seq);
    next = seen ? { seq, txid: r.txid, seen } : { seq, txid: r.txid };
    if (seen?.has(seq)) continue;
    final.push({ seq, provider_uuid: r.provider_uuid, change: r.change, at: r.at });
  }
  return { rows: final, cursor: next, pending };
}

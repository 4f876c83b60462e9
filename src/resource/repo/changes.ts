/**
 * The provider change log (resource_changes), written by the registry and the claims alike and
 * read by WatchProviders. Functions take a Kysely handle so they run on the store or inside a
 * caller's transaction.
 */
import type { Kysely } from "kysely";
import type { Database } from "../../store/database.js";
import { RetryTransaction, type Store } from "../../store/store.js";
import type { ResourceTables } from "../tables.js";

type Db = Kysely<Database>;

/** One logged change. */
export type ChangeRow = ResourceTables["resource_changes"];

/** Handles (transactions) appendChanges wrote through, so their commit can wake watchers. */
const appendedThrough = new WeakSet<Db>();

/** True if appendChanges wrote through this handle (watch.ts asks after the commit). */
export function appendedIn(db: Db): boolean {
  return appendedThrough.has(db);
}

/** What changed: the provider itself, its inventories, or the usage of it (claims). */
export type ChangeKind = "created" | "updated" | "inventory" | "usage" | "deleted";

/**
 * Appends one change per provider (each once, in UUID order), numbered max(seq)+1 onwards
 * inside the caller's transaction. Concurrent writers pick the same numbers; the loser's unique
 * violation retries its whole transaction, so seq follows commit order.
 */
export async function appendChanges(
  store: Store,
  db: Db,
  providerUuids: readonly string[],
  change: ChangeKind,
  at: string,
): Promise<void> {
  const providers = [...new Set(providerUuids)].sort();
  if (providers.length === 0) return;
  const base = await lastChangeSeq(db);
  try {
    await db
      .insertInto("resource_changes")
      .values(
        providers.map((provider_uuid, i) => ({ seq: base + i + 1, provider_uuid, change, at })),
      )
      .execute();
  } catch (err) {
    if (store.isUniqueViolation(err)) throw new RetryTransaction("change sequence raced");
    throw err;
  }
  appendedThrough.add(db);
}

/** The last change's seq (0 when none). */
export async function lastChangeSeq(db: Db): Promise<number> {
  const top = await db
    .selectFrom("resource_changes")
    .select((eb) => eb.fn.max("seq").as("seq"))
    .executeTakeFirst();
  return Number(top?.seq ?? 0);
}

/** Changes after `seq`, oldest first. */
export async function changesAfter(db: Db, seq: number, limit: number): Promise<ChangeRow[]> {
  return db
    .selectFrom("resource_changes")
    .selectAll()
    .where("seq", ">", seq)
    .orderBy("seq")
    .limit(limit)
    .execute();
}

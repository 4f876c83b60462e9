/**
 * Idempotent mutations by request_id (AIP-155). The first execution of a request records its
 * result in the same transaction as the mutation; a retry with the same request_id returns the
 * recorded result; a different request under a used request_id is refused. Each service keeps
 * its own log table with the columns of RequestLogTable.
 */
import { createHash } from "node:crypto";
import { type Kysely, sql } from "kysely";
import type { Logger } from "pino";
import { MulliganError } from "../platform/errors.js";
import { nowIso } from "../platform/ids.js";
import type { Database } from "./database.js";
import { RetryTransaction, type Store, type Tx } from "./store.js";

export interface RequestLogTable {
  request_id: string;
  /** The caller's account UUID: request ids are scoped per caller. */
  account_uuid: string;
  method: string;
  request_hash: string;
  /** JSON of the domain result. */
  response: string;
  created_at: string;
}

/** Tables that hold request logs (one per service). */
export type RequestLogTableName =
  | "iam_requests"
  | "meta_requests"
  | "resource_requests"
  | "control_requests";

/** Creates a part's request log table; called from that part's first migration. */
export async function createRequestLogTable(
  db: Kysely<unknown>,
  table: RequestLogTableName,
): Promise<void> {
  await db.schema
    .createTable(table)
    .addColumn("request_id", "text", (c) => c.notNull())
    .addColumn("account_uuid", "text", (c) => c.notNull())
    .addColumn("method", "text", (c) => c.notNull())
    .addColumn("request_hash", "text", (c) => c.notNull())
    .addColumn("response", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint(`${table}_pk`, ["request_id", "account_uuid"])
    .execute();
  await db.schema.createIndex(`${table}_created`).on(table).column("created_at").execute();
}

/** Records are kept this long; a retry after that runs the request again. */
export const REQUEST_LOG_RETENTION_MS = 24 * 3600 * 1000;
/** How often each part prunes what it keeps for a while (request logs, the change log). */
const PRUNE_INTERVAL_MS = 3600 * 1000;

/**
 * Runs `prune` every PRUNE_INTERVAL_MS without holding the process open; a failure is logged as
 * "`what` prune failed" and tried again at the next interval. Clear the timer on close.
 */
export function prunePeriodically(
  logger: Logger,
  what: string,
  prune: () => Promise<unknown>,
): NodeJS.Timeout {
  const timer = setInterval(() => {
    prune().catch((err) => logger.warn({ err }, `${what} prune failed`));
  }, PRUNE_INTERVAL_MS);
  timer.unref();
  return timer;
}

export interface IdempotencyKey {
  table: RequestLogTableName;
  method: string;
  requestId: string | undefined;
  accountUuid: string;
  /** The decoded request without its request_id; its hash detects reuse of an id. */
  input: unknown;
}

/**
 * The key of one mutation in a part's log: request ids are scoped per account, and the input
 * without its request_id is what a reused id is compared by.
 */
export function idempotencyKey(
  table: RequestLogTableName,
  method: string,
  accountUuid: string,
  input: { requestId?: string | undefined },
): IdempotencyKey {
  return {
    table,
    method,
    requestId: input.requestId,
    accountUuid,
    input: { ...input, requestId: undefined },
  };
}

/**
 * Runs `run` inside the caller's transaction unless this request already ran; returns the
 * first result either way. The result must survive JSON (use ISO strings for times).
 */
export async function idempotent<T>(
  // Unused since the id is claimed with ON CONFLICT DO NOTHING; kept so 38 callers stay as they are.
  _store: Store,
  tx: Tx,
  key: IdempotencyKey,
  run: () => Promise<T>,
): Promise<T> {
  if (key.requestId === undefined) return run();
  const hash = requestHash(key);
  // Claim the id first (one statement on the usual path): a concurrent twin blocks here
  // (PostgreSQL) until this one commits, then inserts nothing and answers from the record.
  const claimed = await tx
    .insertInto(key.table)
    .values({
      request_id: key.requestId,
      account_uuid: key.accountUuid,
      method: key.method,
      request_hash: hash,
      response: "null",
      created_at: nowIso(),
    })
    .onConflict((oc) => oc.columns(["request_id", "account_uuid"]).doNothing())
    .executeTakeFirst();
  if (Number(claimed.numInsertedOrUpdatedRows ?? 0) === 0) {
    const found = await recordedResult<T>(tx, key);
    // Gone again (the twin rolled back after blocking us): run from the start.
    if (!found) throw new RetryTransaction("request_id raced");
    return found.result;
  }
  const result = await run();
  await tx
    .updateTable(key.table)
    .set({ response: JSON.stringify(result ?? null) })
    .where("request_id", "=", key.requestId)
    .where("account_uuid", "=", key.accountUuid)
    .execute();
  return result;
}

/**
 * `idempotent` for many requests of one log table in one transaction (the claim lane's batch),
 * in one statement: claims every id; the keys whose id was new are returned. The others already
 * ran (or are twins of an earlier key of the call): recordedResult decides for each. Every
 * returned key must end in recordResults (it ran) or forgetRequests (it failed, as a rollback
 * of its own transaction would have).
 */
export async function claimRequestIds(
  tx: Tx,
  keys: readonly IdempotencyKey[],
): Promise<Set<IdempotencyKey>> {
  const keyed = keys.filter((k) => k.requestId !== undefined);
  const [first] = keyed;
  if (!first) return new Set();
  const at = nowIso();
  const rows = await tx
    .insertInto(first.table)
    .values(
      keyed.map((k) => ({
        request_id: k.requestId as string,
        account_uuid: k.accountUuid,
        method: k.method,
        request_hash: requestHash(k),
        response: "null",
        created_at: at,
      })),
    )
    .onConflict((oc) => oc.columns(["request_id", "account_uuid"]).doNothing())
    .returning(["request_id", "account_uuid"])
    .execute();
  const fresh = new Set(rows.map((r) => `${r.request_id}\u0000${r.account_uuid}`));
  const won = new Set<IdempotencyKey>();
  for (const k of keyed) {
    const id = `${k.requestId}\u0000${k.accountUuid}`;
    // A twin later in the same call finds its id taken by the first, like a later transaction.
    if (fresh.delete(id)) won.add(k);
  }
  return won;
}

/** Records the results of keys claimRequestIds returned, in one statement. */
export async function recordResults(
  tx: Tx,
  results: readonly (readonly [IdempotencyKey, unknown])[],
): Promise<void> {
  const [first] = results;
  if (!first) return;
  await tx
    .updateTable(first[0].table)
    .set({
      response: sql<string>`CASE ${sql.join(
        results.map(([k, r]) => sql`WHEN ${which(k)} THEN ${JSON.stringify(r ?? null)}`),
        sql` `,
      )} ELSE response END`,
    })
    .where(anyOf(results.map(([k]) => k)))
    .execute();
}

/** Removes the records of keys claimRequestIds returned whose request failed. */
export async function forgetRequests(tx: Tx, keys: readonly IdempotencyKey[]): Promise<void> {
  const [first] = keys;
  if (!first) return;
  await tx.deleteFrom(first.table).where(anyOf(keys)).execute();
}

/** The log row of one key, and of any of several. */
const which = (k: IdempotencyKey) =>
  sql<boolean>`(request_id = ${k.requestId} AND account_uuid = ${k.accountUuid})`;
const anyOf = (keys: readonly IdempotencyKey[]) =>
  sql<boolean>`(${sql.join(keys.map(which), sql` OR `)})`;

/**
 * The recorded result of a request, if it ran (REQUEST_ID_REUSED if the id ran a different
 * request). Outside a transaction it is a cheap pre-check on committed data (a caller can skip
 * its work on a retry); `idempotent` still decides inside the transaction.
 */
export async function recordedResult<T>(
  db: Kysely<Database>,
  key: IdempotencyKey,
): Promise<{ result: T } | undefined> {
  if (key.requestId === undefined) return undefined;
  const found = await db
    .selectFrom(key.table)
    .select(["request_hash", "response", "method"])
    .where("request_id", "=", key.requestId)
    .where("account_uuid", "=", key.accountUuid)
    .executeTakeFirst();
  if (!found) return undefined;
  if (found.request_hash !== requestHash(key))
    throw MulliganError.invalid(
      "request_id",
      "REQUEST_ID_REUSED",
      `was already used for a different ${found.method} request`,
    );
  return { result: JSON.parse(found.response) as T };
}

function requestHash(key: IdempotencyKey): string {
  return createHash("sha256")
    .update(`${key.method}\n${canonicalJson(key.input)}`)
    .digest("hex");
}

/** Deletes log records older than the retention. */
export async function pruneRequestLog(store: Store, table: RequestLogTableName): Promise<void> {
  const cutoff = new Date(Date.now() - REQUEST_LOG_RETENTION_MS).toISOString();
  await store.db.deleteFrom(table).where("created_at", "<", cutoff).execute();
}

/** JSON with sorted keys, so equal requests hash equally. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === "object" && !Array.isArray(v))
      return Object.fromEntries(
        Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)),
      );
    if (typeof v === "bigint") return v.toString();
    return v;
  });
}

/**
 * Group commit (DESIGN.md §5, like Nomad's plan applier): transactions that arrive together run
 * in one database transaction, each inside its own SAVEPOINT, and are committed with one fsync.
 * Each is still checked on its own and answered on its own:
 *
 * - a unit that throws is rolled back to its savepoint and its caller gets the error; the others
 *   go on (their reads saw only committed data and the earlier units of the batch, which commit
 *   with them);
 * - a unit that asks to be retried (RetryTransaction, serialization failure, deadlock) is rolled
 *   back to its savepoint and runs again in a later batch, up to MAX_ATTEMPTS times;
 * - if the batch itself fails (the commit, say), every unit is retried or gets the error.
 *
 * A caller resolves only after the batch committed, so "answered" still means "durable".
 * One batch runs at a time, on PostgreSQL too: two batches of one process running at
 * once lock providers unit by unit in no common order, and deadlocked each other within seconds
 * under load (each deadlock costs PostgreSQL's one-second deadlock_timeout: the claims bench's
 * p99 was 1.05 s with four lanes, 81 ms with one, at a higher rate). Batches of different
 * replicas can still deadlock, so on PostgreSQL a batch waits at most LOCK_TIMEOUT_MS for a lock
 * (SET LOCAL lock_timeout) and is then run again like any retryable failure.
 */
import { sql } from "kysely";
import { RetryTransaction, type Store, type Tx } from "./store.js";

/** Units in one batch at most (bounds a batch's latency). */
const MAX_BATCH = 64;
/** Runs of one unit before its retryable error is returned to the caller. */
const MAX_ATTEMPTS = 8;
/** Longest wait of a PostgreSQL batch for a row lock before it is run again. */
const LOCK_TIMEOUT_MS = 50;

interface Unit {
  fn: (tx: Tx) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  attempts: number;
}

/** Outcome of one unit inside a batch, settled after the commit. */
type Outcome = { ok: true; value: unknown } | { ok: false; err: unknown; retry: boolean };

/** A store whose transactions are group-committed. */
export function groupCommitStore(store: Store): Store {
  const queue: Unit[] = [];
  let running = false;

  const retryable = (err: unknown) => err instanceof RetryTransaction || store.isRetryable(err);
  /** On PostgreSQL, bounds the transaction's lock waits (see the header). */
  const boundLockWaits = async (tx: Tx): Promise<void> => {
    if (store.dialect === "postgres")
      await sql`SET LOCAL lock_timeout = ${sql.lit(`${LOCK_TIMEOUT_MS}ms`)}`.execute(tx);
  };

  let lingering = false;
  const pump = (waited = false): void => {
    if (lingering) return;
    // A lone unit waits one turn of the event loop for others that are ready to join it.
    if (!waited && !running && queue.length === 1) {
      lingering = true;
      setImmediate(() => {
        lingering = false;
        pump(true);
      });
      return;
    }
    if (running || queue.length === 0) return;
    running = true;
    void runBatch(queue.splice(0, MAX_BATCH)).finally(() => {
      running = false;
      pump();
    });
  };

  const settle = (unit: Unit, outcome: Outcome): void => {
    if (outcome.ok) unit.resolve(outcome.value);
    else if (outcome.retry && unit.attempts < MAX_ATTEMPTS) queue.push(unit);
    else unit.reject(outcome.err);
  };

  const runBatch = async (batch: Unit[]): Promise<void> => {
    for (const unit of batch) unit.attempts++;
    if (batch.length === 1) {
      // Alone: no savepoint needed (the store retries the whole transaction itself).
      const [unit] = batch as [Unit];
      try {
        unit.resolve(
          await store.transaction(async (tx) => {
            await boundLockWaits(tx);
            return unit.fn(tx);
          }),
        );
      } catch (err) {
        unit.reject(err);
      }
      return;
    }
    let outcomes: Outcome[] = [];
    try {
      await store.transaction(async (tx) => {
        outcomes = [];
        await boundLockWaits(tx);
        // Savepoints are never released: the commit ends them all, and a rollback to one undoes
        // only what came after it (its unit), so a RELEASE would be a round trip for nothing.
        for (const [i, unit] of batch.entries()) {
          const name = sql.raw(`u${i}`);
          await sql`SAVEPOINT ${name}`.execute(tx);
          try {
            outcomes.push({ ok: true, value: await unit.fn(tx) });
          } catch (err) {
            await sql`ROLLBACK TO SAVEPOINT ${name}`.execute(tx);
            outcomes.push({ ok: false, err, retry: retryable(err) });
          }
        }
      });
    } catch (err) {
      for (const unit of batch) settle(unit, { ok: false, err, retry: retryable(err) });
      return;
    }
    batch.forEach((unit, i) => {
      settle(unit, outcomes[i] ?? { ok: false, err: new Error("unit not run"), retry: true });
    });
  };

  return {
    dialect: store.dialect,
    db: store.db,
    readDb: store.readDb,
    description: store.description,
    serialCommits: store.serialCommits,
    transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        queue.push({
          fn,
          resolve: resolve as (value: unknown) => void,
          reject,
          attempts: 0,
        });
        pump();
      });
    },
    isUniqueViolation: (err) => store.isUniqueViolation(err),
    isRetryable: (err) => store.isRetryable(err),
    ping: () => store.ping(),
    close: () => store.close(),
    listen: (channel, wake, options) => store.listen(channel, wake, options),
    notify: (channel) => store.notify(channel),
  };
}

/**
 * The store: one SQL database behind Kysely, SQLite (embedded default) or PostgreSQL (shared by
 * several replicas). Dialect quirks are capability flags here, in one adapter, never
 * `if (dialect === …)` in service code.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import SqliteDatabase from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect, type Transaction } from "kysely";
import pg from "pg";
import { MulliganError } from "../platform/errors.js";
import type { Database } from "./database.js";

export type Dialect = "sqlite" | "postgres";
export type Tx = Transaction<Database>;

/** Observes each transaction (metrics). */
export type TransactionObserver = (
  seconds: number,
  outcome: "commit" | "rollback" | "retry",
) => void;

export interface Store {
  readonly dialect: Dialect;
  readonly db: Kysely<Database>;
  /**
   * For reads of committed data that must not queue behind a write transaction (the fleet
   * index's refreshes): a second connection on SQLite (WAL readers run beside the writer), the
   * same pool on PostgreSQL.
   */
  readonly readDb: Kysely<Database>;
  /** A human description without secrets, e.g. "sqlite:/var/lib/mulligan/mulligan.db". */
  readonly description: string;
  /**
   * Runs fn in one transaction, retrying it from the start (up to 8 times) when the database
   * reports a serialization failure or deadlock, or fn throws RetryTransaction.
   */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** True if err is a unique-constraint violation. */
  isUniqueViolation(err: unknown): boolean;
  /** True if err is a serialization failure or deadlock (running again may succeed). */
  isRetryable(err: unknown): boolean;
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;
  /**
   * True when transactions commit one at a time, so rows numbered in a transaction become
   * visible in number order (SQLite's single writer). False on PostgreSQL: a later number can
   * commit first, and an append-only log must be read behind the oldest running transaction.
   */
  readonly serialCommits: boolean;
  /**
   * Calls `wake` whenever any process calls notify(channel) (PostgreSQL LISTEN on a dedicated
   * connection that reconnects; SQLite: never — one process writes). Returns the unsubscribe.
   */
  listen(channel: string, wake: () => void, options?: ListenOptions): Promise<() => Promise<void>>;
  /** Wakes every process listening on `channel` (PostgreSQL NOTIFY; SQLite: nothing to do). */
  notify(channel: string): Promise<void>;
}

export interface ListenOptions {
  /**
   * Only notifications another store sent (another process, or another pool): a listener that
   * has already applied its own store's commits (the fleet index) need not wake for them.
   */
  othersOnly?: boolean;
}

/** Thrown inside a transaction to have it rolled back and run again. */
export class RetryTransaction extends Error {
  override readonly name = "RetryTransaction";
}

export interface StoreOptions {
  observe?: TransactionObserver;
  /** Postgres pool size (default 10). */
  poolSize?: number;
}

/** Opens `sqlite:PATH` or `postgres://…`. */
export async function openStore(url: string, options: StoreOptions = {}): Promise<Store> {
  if (url.startsWith("sqlite:")) return openSqlite(url.slice("sqlite:".length), options);
  if (url.startsWith("postgres://") || url.startsWith("postgresql://"))
    return openPostgres(url, options);
  throw MulliganError.invalid(
    "database",
    "DATABASE_URL_INVALID",
    `unsupported database URL "${redact(url)}" (use sqlite:PATH or postgres://…)`,
  );
}

/** The URL without its password, for logs and errors. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, "//$1:***@");
}

/** Prepared statements kept per connection (Kysely prepares every query it runs anew). */
const STATEMENT_CACHE = 512;

/** Makes `prepare` reuse a statement for the same SQL text (most recently used kept). */
function cacheStatements(sqlite: SqliteDatabase.Database): SqliteDatabase.Database {
  const cache = new Map<string, SqliteDatabase.Statement>();
  const prepare = sqlite.prepare.bind(sqlite);
  sqlite.prepare = ((source: string) => {
    let statement = cache.get(source);
    if (statement) cache.delete(source);
    else statement = prepare(source);
    cache.set(source, statement);
    if (cache.size > STATEMENT_CACHE) {
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
    return statement;
  }) as typeof sqlite.prepare;
  return sqlite;
}

function openSqlite(path: string, options: StoreOptions): Store {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const sqlite = new SqliteDatabase(path);
  sqlite.pragma("journal_mode = WAL");
  // Durable commits: every commit is on disk before it is acknowledged.
  sqlite.pragma("synchronous = FULL");
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma("busy_timeout = 5000");
  const db = new Kysely<Database>({
    dialect: new SqliteDialect({ database: cacheStatements(sqlite) }),
  });
  let readDb = db;
  if (path !== ":memory:") {
    const reader = new SqliteDatabase(path);
    reader.pragma("busy_timeout = 5000");
    readDb = new Kysely<Database>({
      dialect: new SqliteDialect({ database: cacheStatements(reader) }),
    });
  }
  return new KyselyStore(
    "sqlite",
    db,
    `sqlite:${path}`,
    options.observe,
    (err) => {
      const code = (err as { code?: string }).code ?? "";
      return code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY";
    },
    (err) => (err as { code?: string }).code === "SQLITE_BUSY",
    true,
    noSignals,
    readDb,
  );
}

// bigint (int8) columns hold amounts and counts below 2^53 (requests are validated to that):
// read them as numbers, like SQLite does, instead of pg's default strings.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

function openPostgres(url: string, options: StoreOptions): Store {
  const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 10 });
  // An idle client that errors (server restart) must not crash the process.
  pool.on("error", () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const code = (err: unknown) => (err as { code?: string }).code ?? "";
  return new KyselyStore(
    "postgres",
    db,
    redact(url),
    options.observe,
    (err) => code(err) === "23505",
    // Serialization failure, deadlock, lock_timeout passed (group-commit.ts sets one).
    (err) => ["40001", "40P01", "55P03"].includes(code(err)),
    false,
    postgresSignals(url, pool),
  );
}

/** Channel names are identifiers chosen by the code, never by users. */
function channelName(channel: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`bad channel name ${channel}`);
  return channel;
}

/**
 * LISTEN on one dedicated connection per subscription, reconnecting after a second when the
 * connection drops (and waking the subscriber then, since notifications may have been missed).
 */
function postgresSignals(url: string, pool: pg.Pool): Signals {
  // The server processes of this pool's connections: a notification one of them sent is this
  // store's own (ListenOptions.othersOnly).
  const own = new Set<number>();
  const pid = (c: pg.PoolClient) => (c as unknown as { processID?: number }).processID;
  pool.on("connect", (c) => {
    const id = pid(c);
    if (id !== undefined) own.add(id);
  });
  pool.on("remove", (c) => {
    const id = pid(c);
    if (id !== undefined) own.delete(id);
  });
  return {
    async listen(channel, wake, options = {}) {
      const name = channelName(channel);
      let client: pg.Client | null = null;
      let closed = false;
      let timer: NodeJS.Timeout | undefined;
      const connect = async (): Promise<void> => {
        const c = new pg.Client({ connectionString: url });
        c.on("notification", (msg) => {
          if (msg.channel !== name) return;
          if (options.othersOnly && own.has(msg.processId)) return;
          wake();
        });
        c.on("error", () => {
          if (client === c) reconnect();
        });
        c.on("end", () => {
          if (client === c) reconnect();
        });
        await c.connect();
        await c.query(`LISTEN ${name}`);
        if (closed) {
          await c.end();
          return;
        }
        client = c;
      };
      const reconnect = () => {
        client = null;
        if (closed || timer) return;
        timer = setTimeout(() => {
          timer = undefined;
          connect().then(wake, reconnect);
        }, 1000);
      };
      await connect();
      return async () => {
        closed = true;
        clearTimeout(timer);
        const c = client;
        client = null;
        await c?.end().catch(() => {});
      };
    },
    async notify(channel) {
      await pool.query("SELECT pg_notify($1, '')", [channelName(channel)]);
    },
  };
}

/** Cross-process wake-ups: LISTEN/NOTIFY on PostgreSQL, none on SQLite. */
interface Signals {
  listen(channel: string, wake: () => void, options?: ListenOptions): Promise<() => Promise<void>>;
  notify(channel: string): Promise<void>;
}

const noSignals: Signals = {
  listen: async () => async () => {},
  notify: async () => {},
};

class KyselyStore implements Store {
  constructor(
    readonly dialect: Dialect,
    readonly db: Kysely<Database>,
    readonly description: string,
    private readonly observe: TransactionObserver | undefined,
    private readonly uniqueViolation: (err: unknown) => boolean,
    private readonly retryable: (err: unknown) => boolean,
    readonly serialCommits: boolean,
    private readonly signals: Signals,
    readonly readDb: Kysely<Database> = db,
  ) {}

  listen(channel: string, wake: () => void, options?: ListenOptions): Promise<() => Promise<void>> {
    return this.signals.listen(channel, wake, options);
  }

  notify(channel: string): Promise<void> {
    return this.signals.notify(channel);
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const started = performance.now();
      try {
        const result = await this.db.transaction().execute(fn);
        this.observe?.((performance.now() - started) / 1000, "commit");
        return result;
      } catch (err) {
        const retry = (err instanceof RetryTransaction || this.retryable(err)) && attempt < 8;
        this.observe?.((performance.now() - started) / 1000, retry ? "retry" : "rollback");
        if (!retry) throw err;
        await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
      }
    }
  }

  isUniqueViolation(err: unknown): boolean {
    return this.uniqueViolation(err);
  }

  isRetryable(err: unknown): boolean {
    return this.retryable(err);
  }

  async ping(): Promise<void> {
    await this.db.selectNoFrom((eb) => eb.lit(1).as("one")).execute();
  }

  async close(): Promise<void> {
    if (this.readDb !== this.db) await this.readDb.destroy();
    await this.db.destroy();
  }
}

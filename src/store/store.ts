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
  /** A human description without secrets, e.g. "sqlite:/var/lib/mulligan/mulligan.db". */
  readonly description: string;
  /**
   * Runs fn in one transaction, retrying it from the start (up to 8 times) when the database
   * reports a serialization failure or deadlock, or fn throws RetryTransaction.
   */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** True if err is a unique-constraint violation. */
  isUniqueViolation(err: unknown): boolean;
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;
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

function openSqlite(path: string, options: StoreOptions): Store {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const sqlite = new SqliteDatabase(path);
  sqlite.pragma("journal_mode = WAL");
  // Durable commits: every commit is on disk before it is acknowledged.
  sqlite.pragma("synchronous = FULL");
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma("busy_timeout = 5000");
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
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
    (err) => code(err) === "40001" || code(err) === "40P01",
  );
}

class KyselyStore implements Store {
  constructor(
    readonly dialect: Dialect,
    readonly db: Kysely<Database>,
    readonly description: string,
    private readonly observe: TransactionObserver | undefined,
    private readonly uniqueViolation: (err: unknown) => boolean,
    private readonly retryable: (err: unknown) => boolean,
  ) {}

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

  async ping(): Promise<void> {
    await this.db.selectNoFrom((eb) => eb.lit(1).as("one")).execute();
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}

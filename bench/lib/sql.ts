/**
 * Direct SQL on a bench store, for seeding big fleets and for audits (never for the measured
 * path). One small interface over better-sqlite3 and pg: queries use `?` placeholders, bulk
 * inserts run in one transaction (SQLite: one prepared single-row statement, faster there than
 * multi-row INSERTs; PostgreSQL: unnest() of one array per column, 5,000 rows a statement).
 *
 * API: openSql(databaseUrl) → SqlHandle { kind, query(text, params?), insert(table, columns, rows),
 *      transaction(fn), close() }. Numbers in rows come back as JS numbers (bigint columns too).
 */
import Database from "better-sqlite3";
import pg from "pg";
import type { StoreKind } from "./store.js";

export type SqlValue = string | number | null;
export type SqlRow = Record<string, SqlValue>;

export interface SqlHandle {
  kind: StoreKind;
  query(text: string, params?: readonly SqlValue[]): Promise<SqlRow[]>;
  /** Inserts `rows` (values in `columns` order) into `table`. */
  insert(table: string, columns: readonly string[], rows: readonly SqlValue[][]): Promise<void>;
  /** Runs `fn` in one transaction (inserts and queries inside it join it). */
  transaction<T>(fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Column types PostgreSQL needs for unnest(): bigint / double columns of the resource tables. */
const PG_NUMERIC: Record<string, string> = {
  generation: "bigint",
  total: "bigint",
  reserved: "bigint",
  min_unit: "bigint",
  max_unit: "bigint",
  step_size: "bigint",
  amount: "bigint",
  allocation_ratio: "float8",
};

/** Opens the store behind a `sqlite:PATH` or `postgres://…` URL. */
export async function openSql(databaseUrl: string): Promise<SqlHandle> {
  if (databaseUrl.startsWith("sqlite:")) return openSqlite(databaseUrl.slice("sqlite:".length));
  return openPostgres(databaseUrl);
}

function openSqlite(path: string): SqlHandle {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("busy_timeout = 5000");
  let depth = 0;
  return {
    kind: "sqlite",
    async query(text, params = []) {
      const stmt = db.prepare(text);
      if (!stmt.reader) {
        stmt.run(...params);
        return [];
      }
      return stmt.all(...params) as SqlRow[];
    },
    async insert(table, columns, rows) {
      const stmt = db.prepare(
        `INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`,
      );
      const run = () => {
        for (const r of rows) stmt.run(...r);
      };
      if (depth > 0) run();
      else db.transaction(run)();
    },
    async transaction(fn) {
      db.exec("BEGIN");
      depth++;
      try {
        const out = await fn();
        db.exec("COMMIT");
        return out;
      } catch (err) {
        db.exec("ROLLBACK");
        throw err;
      } finally {
        depth--;
      }
    },
    async close() {
      db.close();
    },
  };
}

async function openPostgres(url: string): Promise<SqlHandle> {
  const client = new pg.Client({ connectionString: url, types: { getTypeParser: typeParser } });
  await client.connect();
  const toDollar = (text: string) => {
    let n = 0;
    return text.replace(/\?/g, () => `$${++n}`);
  };
  return {
    kind: "postgres",
    async query(text, params = []) {
      const res = await client.query(toDollar(text), params as SqlValue[]);
      return res.rows as SqlRow[];
    },
    async insert(table, columns, rows) {
      const types = columns.map((c) => PG_NUMERIC[c] ?? "text");
      const text = `INSERT INTO ${table} (${columns.join(", ")}) SELECT * FROM unnest(${types
        .map((t, i) => `$${i + 1}::${t}[]`)
        .join(", ")})`;
      for (let i = 0; i < rows.length; i += 5000) {
        const chunk = rows.slice(i, i + 5000);
        await client.query(
          text,
          columns.map((_, c) => chunk.map((r) => r[c] ?? null)),
        );
      }
    },
    async transaction(fn) {
      await client.query("BEGIN");
      try {
        const out = await fn();
        await client.query("COMMIT");
        return out;
      } catch (err) {
        await client.query("ROLLBACK");
        throw err;
      }
    },
    async close() {
      await client.end();
    },
  };
}

/** int8 and numeric as JS numbers (the benches' amounts and counts fit in 2^53). */
function typeParser(oid: number, format?: string): (value: string) => unknown {
  if (oid === pg.types.builtins.INT8 || oid === pg.types.builtins.NUMERIC) return Number;
  return pg.types.getTypeParser(oid, format as "text") as (value: string) => unknown;
}

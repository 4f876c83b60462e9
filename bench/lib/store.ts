/**
 * Bench stores: a fresh, empty SQLite file or PostgreSQL database per run, and its removal.
 *
 * API (stable; helper modules import it):
 *   freshStore(kind, dataDir?) → { kind, url, dataDir, drop() }
 *     sqlite:   url = sqlite:<dataDir>/mulligan.db (dataDir = a new temp dir unless given)
 *     postgres: url = postgres://postgres@127.0.0.1:5432/mulligan_b_<pid>_<random>
 *               (admin URL from MULLIGAN_BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres)
 *   freshPostgresDatabase() → { url, drop() }; dropPostgresDatabase(url)
 *   clonePostgresDatabase(url) → { url, drop() }  (CREATE DATABASE … TEMPLATE; source must be idle)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

export type StoreKind = "sqlite" | "postgres";

export const PG_ADMIN_URL =
  process.env.MULLIGAN_BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export interface BenchStore {
  kind: StoreKind;
  /** The --database URL of the server. */
  url: string;
  /** A temp directory for the server's data dir (and the SQLite file). */
  dataDir: string;
  /** Removes the database and the data dir. */
  drop(): Promise<void>;
}

/** A new temp directory under the OS temp dir. */
export function tempDir(prefix = "mulligan-bench-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A new empty store of `kind`; its data dir is `dataDir` or a new temp dir. */
export async function freshStore(kind: StoreKind, dataDir?: string): Promise<BenchStore> {
  const dir = dataDir ?? tempDir();
  const removeDir = async () => {
    if (!dataDir) rmSync(dir, { recursive: true, force: true });
  };
  if (kind === "sqlite") {
    return { kind, url: `sqlite:${join(dir, "mulligan.db")}`, dataDir: dir, drop: removeDir };
  }
  const db = await freshPostgresDatabase();
  return {
    kind,
    url: db.url,
    dataDir: dir,
    drop: async () => {
      await db.drop();
      await removeDir();
    },
  };
}

/** Creates an empty PostgreSQL database; drop() removes it (closing its connections). */
export async function freshPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `mulligan_b_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  const text = url.toString();
  return { url: text, drop: () => dropPostgresDatabase(text) };
}

/** A copy of the database at `databaseUrl` (nobody may be connected to it meanwhile). */
export async function clonePostgresDatabase(
  databaseUrl: string,
): Promise<{ url: string; drop(): Promise<void> }> {
  const source = databaseName(databaseUrl);
  const name = `${source.slice(0, 40)}_c${Math.random().toString(36).slice(2, 8)}`;
  await adminQuery(`CREATE DATABASE ${name} TEMPLATE ${source}`);
  const url = new URL(databaseUrl);
  url.pathname = `/${name}`;
  const text = url.toString();
  return { url: text, drop: () => dropPostgresDatabase(text) };
}

/** Drops the database named by a postgres:// URL, if it exists. */
export async function dropPostgresDatabase(databaseUrl: string): Promise<void> {
  await adminQuery(`DROP DATABASE IF EXISTS ${databaseName(databaseUrl)} WITH (FORCE)`);
}

/** The database name of a postgres:// URL (only [a-z0-9_], as the benches name them). */
function databaseName(databaseUrl: string): string {
  const name = new URL(databaseUrl).pathname.slice(1);
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`unexpected database name "${name}"`);
  return name;
}

async function adminQuery(text: string): Promise<void> {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${PG_ADMIN_URL} (${(err as Error).message}); ` +
        "start it (pg_ctlcluster 15 main start) or set MULLIGAN_BENCH_PG_URL",
    );
  }
  try {
    await admin.query(text);
  } finally {
    await admin.end();
  }
}

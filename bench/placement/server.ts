/**
 * A real OpenStack Placement for the bench: Debian's placement-api under uwsgi on a loopback
 * port, 2 processes × 4 threads, noauth2, on a fresh SQLite file or a fresh PostgreSQL database
 * (postgresql+psycopg2). Everything lives in a temp dir (placement.conf, the SQLite file, the
 * uwsgi log) that stop() removes, with the PostgreSQL database; if the caller never gets to
 * stop() (process exit, SIGINT, SIGTERM), uwsgi is killed all the same (the temp dir and a
 * PostgreSQL database then stay behind).
 *
 * Seeding mode: on SQLite every commit costs fsyncs (~13 ms each on the bench machine), which
 * makes loading thousands of providers take tens of minutes, so loads run with oslo.db's
 * sqlite_synchronous = False and setSeeding(false) restarts uwsgi durable (the default) before
 * anything is measured. On PostgreSQL seeding changes nothing.
 *
 * Start-up: `placement-manage db sync`, then one app initialisation in a plain python3 (it syncs
 * the standard traits and resource classes into the database: two uwsgi workers doing that at
 * once on SQLite fail with "database is locked"), then uwsgi with --lazy-apps (each worker its
 * own database connections) serving /usr/bin/placement-api, the package's WSGI script, which
 * finds its config through OS_PLACEMENT_CONFIG_DIR.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { freshPostgresDatabase, tempDir } from "../lib/store.js";
import { PlacementHttp } from "./http.js";

const run = promisify(execFile);

export type PlacementDb = "sqlite" | "postgres";

export interface PlacementServer {
  url: string;
  http: PlacementHttp;
  /** The newest microversion the server announces (GET /). */
  maxMicroversion: string;
  db: PlacementDb;
  /**
   * SQLite only: true restarts uwsgi with sqlite_synchronous = False (fast, not durable: for
   * loading), false restarts it durable (for measuring). A no-op when already so or on PostgreSQL.
   */
  setSeeding(on: boolean): Promise<void>;
  /** Stops uwsgi, drops the database and removes the temp dir. */
  stop(): Promise<void>;
}

/** uwsgi worker shape, as in the reference measurements. */
export const UWSGI_PROCESSES = 2;
export const UWSGI_THREADS = 4;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function configText(connection: string, synchronous: boolean): string {
  return [
    "[DEFAULT]",
    "debug = False",
    "[api]",
    "auth_strategy = noauth2",
    "[placement_database]",
    `connection = ${connection}`,
    `sqlite_synchronous = ${synchronous ? "True" : "False"}`,
    "",
  ].join("\n");
}

function logTail(path: string): string {
  try {
    return readFileSync(path, "utf8").split("\n").slice(-40).join("\n");
  } catch {
    return "(no uwsgi log)";
  }
}

/** Polls GET / until Placement answers 200; fails early if uwsgi exits. */
async function waitReady(http: PlacementHttp, child: ChildProcess, log: string): Promise<string> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`uwsgi exited (${child.exitCode ?? child.signalCode}):\n${logTail(log)}`);
    try {
      const r = await http.send("GET", "/");
      if (r.status === 200) {
        const versions = (r.body as { versions?: { max_version?: string }[] }).versions;
        return versions?.[0]?.max_version ?? "?";
      }
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`Placement did not answer within 120 s:\n${logTail(log)}`);
}

/** Ends the uwsgi process group (SIGTERM, then SIGKILL after 15 s). */
function killGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return Promise.resolve();
  const pid = child.pid;
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        // already gone
      }
    }, 15_000);
    child.once("exit", () => {
      clearTimeout(force);
      resolve();
    });
    try {
      process.kill(-pid, "SIGTERM");
    } catch {
      clearTimeout(force);
      resolve();
    }
  });
}

function uwsgiArgs(port: number, log: string): string[] {
  return [
    "--plugins",
    "python3",
    "--http-socket",
    `127.0.0.1:${port}`,
    "--wsgi-file",
    "/usr/bin/placement-api",
    "--master",
    "--processes",
    String(UWSGI_PROCESSES),
    "--threads",
    String(UWSGI_THREADS),
    "--lazy-apps",
    "--need-app",
    "--die-on-term",
    "--buffer-size",
    "65535",
    "--listen",
    "100",
    "--disable-logging",
    "--logto",
    log,
  ];
}

/** Starts Placement on a fresh database of kind `db` (on SQLite, in seeding mode). */
export async function startPlacement(db: PlacementDb): Promise<PlacementServer> {
  const dir = tempDir("placement-bench-");
  const pg = db === "postgres" ? await freshPostgresDatabase() : undefined;
  const connection = pg
    ? pg.url.replace(/^postgres(ql)?:\/\//, "postgresql+psycopg2://")
    : `sqlite:///${join(dir, "placement.sqlite")}`;
  const conf = join(dir, "placement.conf");
  const log = join(dir, "uwsgi.log");
  const env = { ...process.env, OS_PLACEMENT_CONFIG_DIR: dir };
  let seeding = db === "sqlite";
  let child: ChildProcess | undefined;
  const killAtExit = () => {
    if (child?.pid && child.exitCode === null)
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
  };
  // Killed by a signal, node runs no exit handlers: end uwsgi, then die of the same signal.
  const onSignal = (signal: NodeJS.Signals) => {
    killAtExit();
    unhook();
    process.kill(process.pid, signal);
  };
  const unhook = () => {
    process.off("exit", killAtExit);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  };
  const cleanup = async () => {
    unhook();
    if (child) await killGroup(child);
    await pg?.drop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    writeFileSync(conf, configText(connection, !seeding));
    await run("placement-manage", ["--config-file", conf, "db", "sync"], { env });
    await run(
      "/usr/bin/python3",
      ["-c", "from placement.wsgi import init_application; init_application()"],
      { env },
    );
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const http = new PlacementHttp(url);
    const spawnUwsgi = async () => {
      child = spawn("uwsgi", uwsgiArgs(port, log), {
        cwd: dir,
        env,
        detached: true,
        stdio: "ignore",
      });
      return waitReady(http, child, log);
    };
    process.on("exit", killAtExit);
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    const maxMicroversion = await spawnUwsgi();
    const setSeeding = async (on: boolean) => {
      if (db !== "sqlite" || on === seeding) return;
      if (child) await killGroup(child);
      seeding = on;
      writeFileSync(conf, configText(connection, !seeding));
      await spawnUwsgi();
    };
    return { url, http, maxMicroversion, db, setSeeding, stop: cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

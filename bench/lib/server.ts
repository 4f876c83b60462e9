/**
 * A real Mulligan server for benches: `node bin/mulligan.mjs serve` (what operators run) as a child
 * process on a loopback port, bootstrapped over gRPC, reached through the public SDK pieces.
 *
 * API (stable; bench/placement/** imports it):
 *   startMulligan({ database: "sqlite" | "postgres", dataDir?, databaseUrl?, env?, admin?, logLevel? })
 *     (logLevel default "warn"; MULLIGAN_BENCH_LOG=1 echoes the server's output to stderr)
 *     → MulliganServer { url, token, admin, databaseUrl, dataDir, pid, spawnedAt,
 *                        client(service, { connection?, token? }), rssMb(), stop({ keepStore? }) }
 *   - Without `databaseUrl` a fresh store is made (SQLite file in the data dir, or a new
 *     PostgreSQL database); stop() drops it unless { keepStore: true }.
 *   - With `databaseUrl` (an existing store, e.g. after seeding) the store is never dropped;
 *     pass `admin` (the credentials of the first run) since Bootstrap only works once.
 *   - client(service, { connection: i }) gives a typed client on HTTP/2 connection number i
 *     (default 0), so concurrent benches can spread calls over several connections.
 *   - rssMb(): resident set of the server process now (VmRSS of /proc/<pid>/status), in MiB.
 *   - spawnedAt: performance.now() when the process was spawned, servingAt when it first
 *     accepted a connection (for cold-start timing).
 *   - MULLIGAN_BENCH_PROFILE=DIR: every server runs with --cpu-prof and writes a .cpuprofile
 *     into DIR when it stops (`npm run bench -- profile FILE` lists where the time went).
 *   Re-exported from ./store.ts: freshStore, freshPostgresDatabase, dropPostgresDatabase.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { type AddressInfo, connect, createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { DescService } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcJsTransport, type GrpcJsTransport } from "../../src/client/grpcjs-transport.js";
import { bearerToken } from "../../src/client/interceptors.js";
import { IdentityService } from "../../src/gen/mulligan/iam/v1/iam_pb.js";
import { type BenchStore, freshStore, type StoreKind } from "./store.js";

export type { BenchStore, StoreKind } from "./store.js";
export { dropPostgresDatabase, freshPostgresDatabase, freshStore } from "./store.js";

/** The repository root (where src/cli/main.ts lives). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** The bootstrap admin: enough to authenticate again on a restarted server. */
export interface AdminCredentials {
  account: string;
  secret: string;
  project: string;
  /** UUIDs of the admin account and project (as the seeder writes consumers for them). */
  accountUuid: string;
  projectUuid: string;
}

export interface StartOptions {
  database: StoreKind;
  /** The server's data dir (default: the fresh store's temp dir). */
  dataDir?: string;
  /** An existing store; never dropped by stop(). */
  databaseUrl?: string;
  /** Extra environment of the child (MULLIGAN_* settings, NODE_OPTIONS, …). */
  env?: Record<string, string>;
  /** Credentials of an already bootstrapped store (Authenticate instead of Bootstrap). */
  admin?: AdminCredentials;
  /** Server log level (default "warn"); logs go to this process's stderr when MULLIGAN_BENCH_LOG=1. */
  logLevel?: string;
  /** How long to wait for "serving" (default 10 minutes: a big store takes a while). */
  startTimeoutMs?: number;
}

export interface MulliganServer {
  /** http://127.0.0.1:PORT */
  url: string;
  /** The admin's token (global admin, scoped to the admin project). */
  token: string;
  admin: AdminCredentials;
  databaseUrl: string;
  dataDir: string;
  pid: number;
  /** performance.now() at spawn. */
  spawnedAt: number;
  /** performance.now() when the server first accepted a connection. */
  servingAt: number;
  /** A typed client on HTTP/2 connection `connection` (default 0) with `token` (default admin). */
  client<T extends DescService>(
    service: T,
    options?: { connection?: number; token?: string },
  ): Client<T>;
  /** Resident set size of the server process, MiB. */
  rssMb(): number;
  /** Stops the process (SIGTERM, then SIGKILL) and drops a store it created unless keepStore. */
  stop(options?: { keepStore?: boolean }): Promise<void>;
}

/**
 * Spawns `mulligan serve` on a free loopback port, waits until it accepts connections and
 * bootstraps it (or authenticates the given admin). Server logs at "warn" by default, so the
 * per-call info line is not part of what is measured.
 */
export async function startMulligan(options: StartOptions): Promise<MulliganServer> {
  const store: BenchStore | undefined = options.databaseUrl
    ? undefined
    : await freshStore(options.database, options.dataDir);
  const databaseUrl = options.databaseUrl ?? store?.url ?? "";
  const dataDir = options.dataDir ?? store?.dataDir ?? "";
  if (!dataDir) throw new Error("startMulligan: dataDir is required with databaseUrl");
  const port = await freePort();
  const profileDir = process.env.MULLIGAN_BENCH_PROFILE;
  const args = [
    ...(profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : []),
    join(REPO_ROOT, "bin/mulligan.mjs"),
    "serve",
    "--listen",
    `127.0.0.1:${port}`,
    "--data-dir",
    dataDir,
    "--database",
    databaseUrl,
    "--log-level",
    options.logLevel ?? "warn",
  ];
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const pid = child.pid ?? 0;
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitListening(child, port, options.startTimeoutMs ?? 600_000);
  } catch (err) {
    child.kill("SIGKILL");
    await store?.drop();
    throw err;
  }
  const servingAt = performance.now();

  // The bench's callers use the grpc-js transport (decision 0011): on two shared cores a
  // connect-node client would spend on itself much of the CPU the server is being measured on.
  const transports = new Map<string, GrpcJsTransport>();
  const clients = new Map<string, Client<DescService>>();
  const clientOf = <T extends DescService>(service: T, connection: number, token: string) => {
    const key = `${service.typeName}|${connection}|${token}`;
    let c = clients.get(key);
    if (!c) {
      const transportKey = `${connection}|${token}`;
      let transport = transports.get(transportKey);
      if (!transport) {
        transport = createGrpcJsTransport({
          baseUrl: url,
          ownConnection: true,
          interceptors: token ? [bearerToken(token)] : [],
        });
        transports.set(transportKey, transport);
      }
      c = createClient(service, transport) as unknown as Client<DescService>;
      clients.set(key, c);
    }
    return c as unknown as Client<T>;
  };

  let admin: AdminCredentials;
  let token: string;
  const iam = clientOf(IdentityService, 0, "");
  if (options.admin) {
    admin = options.admin;
    const { account, secret, project } = admin;
    const auth = await whileUnavailable(() =>
      iam.authenticate({ account, secret, project, ttlSeconds: 86400 }),
    );
    token = auth.token;
  } else {
    const boot = await whileUnavailable(() => iam.bootstrap({}));
    admin = {
      account: boot.account?.name ?? "",
      secret: boot.secret,
      project: boot.project?.name ?? "",
      accountUuid: boot.account?.uuid ?? "",
      projectUuid: boot.project?.uuid ?? "",
    };
    token = boot.token;
  }

  return {
    url,
    token,
    admin,
    databaseUrl,
    dataDir,
    pid,
    spawnedAt,
    servingAt,
    client: (service, o = {}) => clientOf(service, o.connection ?? 0, o.token ?? token),
    rssMb: () => rssMbOf(pid),
    async stop(o = {}) {
      for (const t of transports.values()) t.close();
      transports.clear();
      clients.clear();
      await killChild(child);
      if (!o.keepStore) await store?.drop();
    },
  };
}

/** Calls `fn` until it does not fail with UNAVAILABLE (a server still starting), for 60 s at most. */
async function whileUnavailable<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = performance.now() + 60_000;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (ConnectError.from(err).code !== Code.Unavailable || performance.now() > deadline)
        throw err;
      await new Promise((ok) => setTimeout(ok, 50));
    }
  }
}

/** VmRSS of a process in MiB (0 if it is gone). */
export function rssMbOf(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? 0);
    return Math.round((kb / 1024) * 10) / 10;
  } catch {
    return 0;
  }
}

/** A loopback port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address() as AddressInfo;
  await new Promise((ok) => server.close(ok));
  return port;
}

/**
 * Resolves once 127.0.0.1:`port` accepts connections; rejects if the child exits first or the
 * timeout passes. The child's output is kept (last 30 lines) for the error message, and echoed
 * to stderr when MULLIGAN_BENCH_LOG=1.
 */
function waitListening(child: ChildProcess, port: number, timeoutMs: number): Promise<void> {
  const echo = process.env.MULLIGAN_BENCH_LOG === "1";
  const tail: string[] = [];
  const keep = (line: string) => {
    tail.push(line);
    if (tail.length > 30) tail.shift();
    if (echo) process.stderr.write(`[serve ${child.pid}] ${line}\n`);
  };
  for (const stream of [child.stdout, child.stderr])
    if (stream) createInterface({ input: stream }).on("line", keep);
  let exited: string | undefined;
  child.once("exit", (code, signal) => {
    exited = String(code ?? signal);
  });
  const deadline = performance.now() + timeoutMs;
  const attempt = (): Promise<boolean> =>
    new Promise((ok) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        ok(true);
      });
      socket.once("error", () => ok(false));
    });
  return (async () => {
    for (;;) {
      if (exited !== undefined)
        throw new Error(`mulligan serve exited (${exited}):\n${tail.join("\n")}`);
      if (performance.now() > deadline)
        throw new Error(`mulligan serve did not listen in ${timeoutMs} ms:\n${tail.join("\n")}`);
      if (await attempt()) return;
      await new Promise((ok) => setTimeout(ok, 20));
    }
  })();
}

/** SIGTERM, then SIGKILL after 15 s; resolves when the process has exited. */
function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolvePromise) => {
    const force = setTimeout(() => child.kill("SIGKILL"), 15_000);
    child.once("exit", () => {
      clearTimeout(force);
      resolvePromise();
    });
    child.kill("SIGTERM");
  });
}

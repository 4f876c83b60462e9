/**
 * The real `mulligan serve` process: SIGTERM with calls in flight and an idle client connected
 * lets the calls finish, sends GOAWAY, and exits 0 well within the drain timeout; a bad
 * setting exits 2 with one line on stderr. Runs on SQLite, the zero-setup default.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import * as http2 from "node:http2";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  Health,
  HealthCheckResponse_ServingStatus as Status,
} from "../src/gen/health/v1/health_pb.js";
import { IdentityService } from "../src/gen/mulligan/iam/v1/iam_pb.js";

const ROOT = join(import.meta.dirname, "..");
const BIN = join(ROOT, "bin", "mulligan.mjs");
const DRAIN_MS = 3000;
const CALLS = 24;

/** A port nobody listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Environment without MULLIGAN_* settings from the developer's shell. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("MULLIGAN_")),
  );
}

interface Running {
  child: ChildProcess;
  logs: Record<string, unknown>[];
  exited: Promise<{ code: number | null; at: number; stderr: string }>;
}

function runServe(args: string[]): Running {
  const child = spawn(process.execPath, [BIN, "serve", ...args], { cwd: ROOT, env: cleanEnv() });
  const logs: Record<string, unknown>[] = [];
  let pending = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines)
      if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; at: number; stderr: string }>((resolve) =>
    child.on("exit", (code) => resolve({ code, at: performance.now(), stderr })),
  );
  return { child, logs, exited };
}

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
  pollMs = 100,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

describe("mulligan serve process", () => {
  it("drains in-flight calls on SIGTERM and exits 0 despite an idle connection", async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const dataDir = mkdtempSync(join(tmpdir(), "mulligan-serve-"));
    const run = runServe([
      "--listen",
      `127.0.0.1:${port}`,
      "--data-dir",
      dataDir,
      "--drain-timeout",
      `${DRAIN_MS / 1000}s`,
      "--log-level",
      "debug",
    ]);
    try {
      const health = createClient(Health, createGrpcTransport({ baseUrl: url }));
      await until(
        "SERVING",
        async () => (await health.check({ service: "" })).status === Status.SERVING,
      );
      const iam: Client<typeof IdentityService> = createClient(
        IdentityService,
        createGrpcTransport({ baseUrl: url }),
      );
      const admin = await iam.bootstrap({});

      // An idle client: an HTTP/2 connection that never sends a request.
      const idle = http2.connect(url);
      await new Promise<void>((resolve, reject) =>
        idle.once("connect", () => resolve()).once("error", reject),
      );
      let goaway = false;
      idle.on("goaway", () => {
        goaway = true;
      });
      const idleClosed = new Promise<void>((resolve) => idle.on("close", resolve));
      idle.on("error", () => {});

      // A health watch (a stream that lasts until shutdown) and many Authenticate calls, each
      // hashing with scrypt on libuv's four threads, so that several are still running when
      // SIGTERM arrives.
      const watched: Status[] = [];
      const watch = (async () => {
        for await (const r of health.watch({ service: "" })) watched.push(r.status);
      })();
      const calls = Array.from({ length: CALLS }, () =>
        iam.authenticate({ account: admin.account?.name ?? "", secret: admin.secret, project: "" }),
      );
      const started = () =>
        run.logs.filter((l) => l.msg === "rpc start" && String(l.method).endsWith("/Authenticate"))
          .length;
      await until("the calls to reach the server", () => started() === CALLS, 10_000, 2);
      const signalled = performance.now();
      run.child.kill("SIGTERM");

      const results = await Promise.all(calls);
      for (const r of results) assert.ok(r.token, "in-flight call answered");
      await watch;
      assert.deepEqual(watched, [Status.SERVING, Status.NOT_SERVING]);
      const exit = await run.exited;
      assert.equal(exit.code, 0, exit.stderr);
      const took = exit.at - signalled;
      assert.ok(
        took < DRAIN_MS,
        `exit took ${Math.round(took)} ms, drain timeout is ${DRAIN_MS} ms`,
      );
      await idleClosed;
      assert.ok(goaway, "the idle connection received GOAWAY");

      // The log proves the order: draining began while Authenticate calls were still running.
      const draining = run.logs.findIndex((l) => l.msg === "draining");
      assert.ok(draining >= 0);
      const finishedAfter = run.logs
        .slice(draining)
        .filter(
          (l) => l.msg === "rpc" && String(l.method).endsWith("/Authenticate") && l.code === "OK",
        );
      assert.ok(finishedAfter.length > 0, "no Authenticate call was in flight at SIGTERM");
      assert.equal(run.logs.at(-1)?.msg, "stopped");
      await assert.rejects(
        health.check({ service: "" }, { timeoutMs: 2000 }),
        (err: unknown) => ConnectError.from(err).code === Code.Unavailable,
      );
    } finally {
      run.child.kill("SIGKILL");
    }
  });

  const bad: { args: string[]; error: RegExp }[] = [
    {
      args: ["--listen", "abc"],
      error: /^mulligan serve: listen "abc" \(from --listen\): must be HOST:PORT/,
    },
    {
      args: ["--listen", "0.0.0.0:0"],
      error:
        /^mulligan serve: listen "0\.0\.0\.0:0" \(from --listen\): a non-loopback address needs TLS; pass --tls-cert and --tls-key, or --insecure/,
    },
    {
      args: ["--services", "iam,compute"],
      error:
        /^mulligan serve: services "iam,compute" \(from --services\): unknown service compute; valid services are iam, meta, resource, control$/,
    },
    {
      args: ["--database", "sqlite"],
      error:
        /^mulligan serve: database "sqlite" \(from --database\): must be sqlite:PATH or postgres:/,
    },
  ];
  for (const t of bad) {
    it(`exits 2 with one line for ${t.args.join(" ")}`, async () => {
      const run = runServe(t.args);
      const exit = await run.exited;
      assert.equal(exit.code, 2);
      const lines = exit.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, exit.stderr);
      assert.match(lines[0] ?? "", t.error);
    });
  }
});

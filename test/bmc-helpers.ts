/**
 * Shared pieces of the BMC driver tests: a check that the Debian tools are installed (a missing
 * one fails the test and names its package), a tiny HTTP boot server the simulated node's iPXE
 * ROM netboots from (so a test sees which boot device the BMC really chose), the guest's QMP
 * status, and a scan of every process's argv for a secret.
 */
import { execFile } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { Worker } from "node:worker_threads";
import { QmpClient } from "../src/executor/drivers/qemu/qmp-client.js";

/** Fails with the Debian package to install when one of the tools is missing. */
export async function requireTools(tools: [binary: string, debianPackage: string][]) {
  const missing: string[] = [];
  for (const [binary, pkg] of tools) {
    try {
      await promisify(execFile)("sh", ["-c", `command -v ${binary}`]);
    } catch {
      missing.push(`${binary} (Debian package ${pkg})`);
    }
  }
  if (missing.length > 0) {
    throw new Error(`missing tools: ${missing.join(", ")} — apt-get install them`);
  }
}

/** An HTTP server serving an iPXE script that only announces itself; counts the requests. */
export async function startBootServer() {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? "");
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end("#!ipxe\necho MULLIGAN-TEST-NETBOOT\nshell\n");
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address() as AddressInfo;
  return {
    /** The URL as the guest sees it: QEMU user networking maps 10.0.2.2 to the host. */
    bootUrl: `http://10.0.2.2:${port}/boot/ipxe`,
    hits,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

/** The guest's QMP run state ("running", "paused", "prelaunch", "shutdown"…). */
export async function qmpStatus(socket: string): Promise<string> {
  const qmp = await QmpClient.connect(socket);
  try {
    return (await qmp.execute<{ status: string }>("query-status")).status;
  } finally {
    qmp.close();
  }
}

/** Waits until `check` holds; false after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(100);
  }
  return check();
}

/**
 * The sampler's thread: passes over /proc with synchronous reads (a pass over ~100 processes
 * takes ~2 ms of CPU; asynchronous reads took over 15 times that), in a worker so that a read which
 * blocks — a process holding its memory lock, seen once under load — stalls only the sampler.
 * Posts each argv not seen before, "ready" after the first pass, and the number of passes
 * once the pass under way when the stop flag is set has ended.
 */
const SAMPLER = `
const { parentPort, workerData } = require("node:worker_threads");
const { readdirSync, readFileSync } = require("node:fs");
const { flag, everyMs } = workerData;
const seen = new Set();
let samples = 0;
for (;;) {
  let pids = [];
  try { pids = readdirSync("/proc"); } catch {}
  for (const pid of pids) {
    if (!/^\\d+$/.test(pid)) continue;
    let argv = "";
    try { argv = readFileSync("/proc/" + pid + "/cmdline", "utf8").replaceAll("\\0", " ").trim(); } catch {}
    if (argv !== "" && !seen.has(argv)) { seen.add(argv); parentPort.postMessage({ argv }); }
  }
  if (++samples === 1) parentPort.postMessage({ ready: true });
  if (Atomics.load(flag, 0) !== 0) break;
  Atomics.wait(flag, 0, 0, everyMs);
}
parentPort.postMessage({ samples });
`;

/**
 * Samples every process's argv until `stop()`, a pass over /proc every `everyMs`, once `ready`
 * (the first pass has ended); `stop()` waits for the pass under way (the work can be quicker
 * than one pass) and returns each distinct argv seen (NULs as spaces) and the number of passes
 * (-1 if that pass did not end within 5 s). For secrets learned only while the work runs
 * (agent tokens), check the argvs afterwards.
 */
export function sampleArgv(everyMs = 2): {
  ready: Promise<void>;
  stop(): Promise<{ argvs: Set<string>; samples: number }>;
} {
  const argvs = new Set<string>();
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(SAMPLER, { eval: true, workerData: { flag, everyMs } });
  let started = () => {};
  const ready = new Promise<void>((resolve) => (started = resolve));
  const finished = new Promise<number>((resolve, reject) => {
    worker.on("message", (m: { argv?: string; ready?: true; samples?: number }) => {
      if (m.argv !== undefined) argvs.add(m.argv);
      if (m.ready) started();
      if (m.samples !== undefined) resolve(m.samples);
    });
    worker.on("error", reject);
  });
  return {
    ready,
    async stop() {
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
      const samples = await Promise.race([finished, sleep(5000).then(() => -1)]);
      await worker.terminate();
      return { argvs, samples };
    },
  };
}

/** Samples every process's argv while `work` runs; returns the argvs that contain `secret`. */
export async function watchArgv<T>(
  secret: string,
  work: () => Promise<T>,
): Promise<{ result: T; leaks: string[]; samples: number }> {
  const sampler = sampleArgv();
  await sampler.ready;
  let result: T;
  try {
    result = await work();
  } catch (err) {
    void sampler.stop();
    throw err;
  }
  const { argvs, samples } = await sampler.stop();
  return { result, leaks: [...argvs].filter((a) => a.includes(secret)), samples };
}

/**
 * Shared pieces of the BMC driver tests: a check that the Debian tools are installed (a missing
 * one fails the test and names its package), a tiny HTTP boot server the simulated node's iPXE
 * ROM netboots from (so a test sees which boot device the BMC really chose), the guest's QMP
 * status, and a scan of every process's argv for a secret.
 */
import { execFile } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
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

/** Samples every process's argv while `work` runs; returns the argvs that contain `secret`. */
export async function watchArgv<T>(
  secret: string,
  work: () => Promise<T>,
): Promise<{ result: T; leaks: string[]; samples: number }> {
  const leaks: string[] = [];
  let done = false;
  let samples = 0;
  const sampler = (async () => {
    while (!done) {
      for (const pid of await readdir("/proc").catch(() => [])) {
        if (!/^\d+$/.test(pid)) continue;
        // A read of another process's cmdline can block while that process holds its memory
        // lock (seen once under load): give up on that pid for this sample, not on the test.
        const argv = await Promise.race([
          readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => ""),
          sleep(1000).then(() => ""),
        ]);
        if (argv.includes(secret)) leaks.push(argv.replaceAll("\0", " "));
      }
      samples++;
      await sleep(2);
    }
  })();
  try {
    const result = await work();
    // The pass under way when the work ends still counts: wait for it before counting (the
    // work can be quicker than one pass over /proc).
    done = true;
    await Promise.race([sampler, sleep(5000)]);
    return { result, leaks, samples };
  } finally {
    done = true;
  }
}

/**
 * A real `mulligan executor` for benches: a child process building QEMU guests (TCG) on this
 * machine for a bench server, as an operator runs it. Its output is echoed to stderr when
 * MULLIGAN_BENCH_LOG=1.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { REPO_ROOT } from "./server.js";

export interface ExecutorStart {
  server: string;
  account: string;
  secretFile: string;
  hostName: string;
  region: string;
  stateDir: string;
  maxBuilds: number;
  /** Resolves once the server knows the host (throws until then). */
  ready: () => Promise<void>;
}

export interface BenchExecutor {
  /** SIGTERM (running builds finish), then waits for the exit. */
  stop(): Promise<void>;
}

/** Spawns the executor and waits (up to 2 minutes) until `ready` passes. */
export async function spawnExecutor(o: ExecutorStart): Promise<BenchExecutor> {
  const child = spawn(
    process.execPath,
    [
      join(REPO_ROOT, "bin/mulligan.mjs"),
      "--server",
      o.server,
      "executor",
      ...["--account", o.account, "--secret-file", o.secretFile],
      ...["--host-name", o.hostName, "--region", o.region, "--state-dir", o.stateDir],
      ...["--accel", "tcg", "--max-builds", String(o.maxBuilds), "--log-level", "warn"],
    ],
    { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  const tail: string[] = [];
  for (const stream of [child.stdout, child.stderr])
    createInterface({ input: stream }).on("line", (line) => {
      tail.push(line);
      if (tail.length > 20) tail.shift();
      if (process.env.MULLIGAN_BENCH_LOG === "1")
        process.stderr.write(`[executor ${child.pid}] ${line}\n`);
    });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`mulligan executor exited ${child.exitCode}:\n${tail.join("\n")}`);
    try {
      await o.ready();
      return { stop };
    } catch (err) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`executor not ready in 2 minutes (${(err as Error).message})`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

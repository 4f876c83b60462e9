/**
 * Spawning the real `mulligan` executable from tests (cli.test.ts, cli-commands.test.ts): one
 * child process per command, with its own config directory and none of the caller's MULLIGAN_*
 * environment, so a developer's login never leaks into a test.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";

const BIN = join(import.meta.dirname, "..", "bin", "mulligan.mjs");

/** What one run of the executable left behind. */
export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `mulligan ARGS` with `configDir` as its config (and home) directory, `input` on stdin,
 * and only PATH plus `env` in its environment.
 */
export function mulligan(
  configDir: string,
  args: string[],
  input?: string,
  env: NodeJS.ProcessEnv = {},
): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: configDir,
    MULLIGAN_CONFIG_DIR: configDir,
    ...env,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: childEnv,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? "");
  });
}

/** Asserts the exit code, showing the output when it differs. */
export function exits(run: Run, code: number): void {
  assert.equal(
    run.code,
    code,
    `exit ${run.code}, expected ${code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`,
  );
}

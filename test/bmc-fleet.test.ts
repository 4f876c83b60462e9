/**
 * Simulated nodes never outlive the process that started them: a test that crashes or is
 * killed by the runner's timeout must not leave QEMU guests and BMCs behind on a shared machine.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { access, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { requireTools, waitFor } from "./bmc-helpers.js";

const CHILD = fileURLToPath(new URL("./bmc-sim-child.ts", import.meta.url));
let workDir: string;

before(async () => {
  await requireTools([
    ["ipmitool", "ipmitool"],
    ["ipmi_sim", "openipmi"],
    ["qemu-system-x86_64", "qemu-system-x86"],
    ["qemu-img", "qemu-utils"],
  ]);
  workDir = await mkdtemp(join(tmpdir(), "mulligan-bmc-fleet-"));
});

after(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

for (const bmc of ["ipmi", "redfish"]) {
  test(`a ${bmc} node goes when the process that started it is killed`, async () => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, join(workDir, bmc), bmc], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const pids = await new Promise<{ qemu: number; bmc: number; disk: string }>((ok, fail) => {
      let out = "";
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        out += chunk;
        if (out.includes("\n")) ok(JSON.parse(out.slice(0, out.indexOf("\n"))));
      });
      child.once("exit", (code) => fail(new Error(`the child exited (${code}) before starting`)));
    });
    assert.ok(alive(pids.qemu) && alive(pids.bmc));
    await access(pids.disk);
    child.kill("SIGKILL");
    const gone = await waitFor(() => !alive(pids.qemu) && !alive(pids.bmc), 15_000);
    assert.ok(gone, `QEMU ${pids.qemu} and BMC ${pids.bmc} are gone`);
  });
}

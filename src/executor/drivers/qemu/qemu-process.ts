/**
 * Starting and stopping one guest's QEMU process. QEMU runs detached (own session, stdio to
 * files, unref'd), so it outlives the executor: a restarted executor finds it by pid file and
 * adopts it. Start is done once QMP answers; an early exit is reported with QEMU's own words.
 */
import { spawn } from "node:child_process";
import { open, rm } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { GuestError } from "../vm-driver.js";
import { type GuestFiles, isQemuOf, tailFile } from "./guest-files.js";

/** The step name start failures and progress are reported under. */
export const START_STEP = "start";

/** How long QEMU may take to answer on QMP after it is spawned. */
const START_TIMEOUT_MS = 15_000;

/**
 * Spawns QEMU for guest `uuid` and resolves with its pid once `answers` resolves: the caller's
 * QMP query, made through the caller's own connections — QEMU serves one QMP client at a time,
 * so a probe on a connection of its own would wait behind a watcher's held one.
 */
export async function startQemu(
  binary: string,
  args: string[],
  files: GuestFiles,
  uuid: string,
  answers: () => Promise<unknown>,
): Promise<number> {
  await Promise.all(
    [files.pidFile, files.qmpSocket, files.consoleLog].map((p) => rm(p, { force: true })),
  );
  const log = await open(files.qemuLog, "w");
  let exited = false;
  const child = spawn(binary, args, { detached: true, stdio: ["ignore", log.fd, log.fd] });
  child.unref();
  child.on("exit", () => {
    exited = true;
  });
  const spawned = new Promise<number>((resolve, reject) => {
    child.once("spawn", () => resolve(child.pid as number));
    child.once("error", (error: NodeJS.ErrnoException) => {
      reject(
        error.code === "ENOENT"
          ? new GuestError(START_STEP, "HYPERVISOR_MISSING", `${binary} not found`, true)
          : new GuestError(START_STEP, "HYPERVISOR_FAILED", `${binary}: ${error.message}`, true),
      );
    });
  });
  const pid = await spawned.finally(() => log.close());
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (exited) {
      const tail = (await tailFile(files.qemuLog, 2048)).trim();
      throw new GuestError(
        START_STEP,
        "HYPERVISOR_FAILED",
        `QEMU exited at start: ${tail || "(no output)"}`,
        true,
      );
    }
    try {
      await answers();
      return pid;
    } catch {
      // not listening yet (or exiting): look again
    }
    if (Date.now() > deadline) {
      await killAndWait(pid, uuid);
      throw new GuestError(
        START_STEP,
        "HYPERVISOR_FAILED",
        `QEMU did not answer on QMP within ${START_TIMEOUT_MS} ms`,
        true,
      );
    }
    await sleep(50);
  }
}

/** Resolves true once `pid` is no longer guest `uuid`'s QEMU, false after `timeoutMs`. */
export async function waitGone(pid: number, uuid: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (await isQemuOf(pid, uuid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/** SIGKILLs guest `uuid`'s QEMU and waits until it is gone. */
export async function killAndWait(pid: number, uuid: string): Promise<void> {
  if (!(await isQemuOf(pid, uuid))) return;
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return; // already gone
  }
  if (!(await waitGone(pid, uuid, 10_000))) {
    throw new GuestError("destroy", "HYPERVISOR_STUCK", `QEMU ${pid} survived SIGKILL`, true);
  }
}

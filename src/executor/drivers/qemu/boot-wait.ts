/**
 * Waiting for a guest's boot marker: the console log is read incrementally (QEMU appends to
 * it) and each line tested against the marker. The wait ends with the marker, with the guest's
 * exit, with the timeout or with the caller's abort — whichever comes first, never later.
 */
import { open } from "node:fs/promises";
import { StringDecoder } from "node:string_decoder";
import { setTimeout as sleep } from "node:timers/promises";
import { GuestError } from "../vm-driver.js";

/** The step name boot failures and progress are reported under. */
export const BOOT_STEP = "boot";

/** How often the console is read while waiting: every poll's wait is added to the build. */
const POLL_MS = 25;
/** A line longer than this is tested in pieces (a guest printing without newlines). */
const MAX_LINE = 64 * 1024;

export interface BootWait {
  consoleLog: string;
  marker: RegExp;
  timeoutMs: number;
  signal?: AbortSignal;
  /** False once the guest's process is gone or stopped for good (then waiting is pointless). */
  isAlive: () => Promise<boolean>;
  /** Text of the console to quote in errors. */
  consoleTail: () => Promise<string>;
}

/** The spec's boot marker as a regular expression; an invalid one fails before anything runs. */
export function parseBootMarker(source: string): RegExp {
  try {
    return new RegExp(source);
  } catch (error) {
    const why = (error as Error).message;
    throw new GuestError(BOOT_STEP, "BOOT_MARKER_INVALID", `invalid boot marker: ${why}`, false);
  }
}

/** Resolves once the marker shows; throws GuestError BOOT_TIMEOUT or GUEST_EXITED. */
export async function waitForBootMarker(w: BootWait): Promise<void> {
  const deadline = Date.now() + w.timeoutMs;
  let offset = 0;
  let pending = "";
  const decoder = new StringDecoder("utf8");
  for (;;) {
    w.signal?.throwIfAborted();
    const chunk = await readFrom(w.consoleLog, offset);
    offset += chunk.length;
    pending += decoder.write(chunk);
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    if (pending.length > MAX_LINE) {
      lines.push(pending);
      pending = "";
    }
    if ([...lines, pending].some((line) => w.marker.test(line))) return;
    if (!(await w.isAlive())) {
      throw new GuestError(
        BOOT_STEP,
        "GUEST_EXITED",
        `the guest stopped before its boot marker /${w.marker.source}/ showed; console: ${lastLines(await w.consoleTail())}`,
        false,
      );
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new GuestError(
        BOOT_STEP,
        "BOOT_TIMEOUT",
        `boot marker /${w.marker.source}/ did not show within ${w.timeoutMs} ms; console: ${lastLines(await w.consoleTail())}`,
        false,
      );
    }
    try {
      await sleep(Math.min(POLL_MS, left), undefined, w.signal ? { signal: w.signal } : {});
    } catch (error) {
      if (w.signal?.aborted) throw w.signal.reason;
      throw error;
    }
  }
}

/** The bytes of `path` from `offset` on (none if the file does not exist yet). */
async function readFrom(path: string, offset: number): Promise<Buffer> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, "r");
  } catch {
    return Buffer.alloc(0);
  }
  try {
    const { size } = await handle.stat();
    if (size <= offset) return Buffer.alloc(0);
    const buffer = Buffer.alloc(size - offset);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** The last few lines of a console, for an error message. */
function lastLines(text: string): string {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  return JSON.stringify(lines.slice(-5).join("\n"));
}

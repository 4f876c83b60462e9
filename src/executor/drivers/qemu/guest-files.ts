/**
 * The on-disk layout of one guest, `<stateDir>/<uuid>/`, and what can be learnt from it after
 * an executor restart: the QEMU process (from its pid file, checked against /proc so a reused
 * pid is never mistaken for the guest) and the tail of its console.
 */
import { open, readFile } from "node:fs/promises";
import { join } from "node:path";

/** Paths of everything a guest owns. */
export interface GuestFiles {
  dir: string;
  disk: string;
  configIso: string;
  qmpSocket: string;
  consoleLog: string;
  pidFile: string;
  /** The spec the guest was created with, for list() and debugging. */
  specJson: string;
  /** QEMU's own stdout and stderr (the tail explains an early exit). */
  qemuLog: string;
}

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** True for names that can be a guest directory (a UUID never escapes stateDir). */
export function isGuestName(name: string): boolean {
  return UUID.test(name);
}

export function guestFiles(stateDir: string, uuid: string): GuestFiles {
  if (!isGuestName(uuid)) throw new TypeError(`not a guest UUID: ${JSON.stringify(uuid)}`);
  const dir = join(stateDir, uuid);
  return {
    dir,
    disk: join(dir, "disk.qcow2"),
    configIso: join(dir, "config.iso"),
    qmpSocket: join(dir, "qmp.sock"),
    consoleLog: join(dir, "console.log"),
    pidFile: join(dir, "qemu.pid"),
    specJson: join(dir, "spec.json"),
    qemuLog: join(dir, "qemu.log"),
  };
}

/**
 * The pid of the guest's live QEMU process, or undefined. The process must still be the one
 * QEMU started for this guest: its command line names `guest=<uuid>`.
 */
export async function livePid(files: GuestFiles, uuid: string): Promise<number | undefined> {
  let pid: number;
  try {
    pid = Number.parseInt((await readFile(files.pidFile, "utf8")).trim(), 10);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return (await isQemuOf(pid, uuid)) ? pid : undefined;
}

/** True if `pid` runs and is QEMU started for guest `uuid` (not a zombie). */
export async function isQemuOf(pid: number, uuid: string): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    // The state follows the parenthesised command name: Z is a zombie, X is dead.
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    if (state === "Z" || state === "X") return false;
    const argv = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0");
    return argv.includes(`guest=${uuid}`);
  } catch {
    return false;
  }
}

/** The last `maxBytes` of a file as text ("" if it does not exist). */
export async function tailFile(path: string, maxBytes: number): Promise<string> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, "r");
  } catch {
    return "";
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, Math.max(0, maxBytes));
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return buffer.toString("utf8");
  } finally {
    await handle.close();
  }
}

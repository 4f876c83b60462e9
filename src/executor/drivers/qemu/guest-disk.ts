/**
 * The guest's root disk: a qcow2 overlay on its image (the image itself is never written), or
 * a blank qcow2 for kernel-booted guests. Created under a temp name and renamed, so an existing
 * disk.qcow2 is always complete and creating it again is a no-op.
 */
import { execFile } from "node:child_process";
import { access, rename, rm } from "node:fs/promises";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { GuestError, type GuestImage } from "../vm-driver.js";

const run = promisify(execFile);

/** The step name disk failures and progress are reported under. */
export const DISK_STEP = "disk";

/** Creates `diskPath` for `image` unless it exists; returns whether it created it. */
export async function ensureDisk(
  diskPath: string,
  image: GuestImage,
  diskGb: number,
  qemuImg = "qemu-img",
): Promise<boolean> {
  try {
    await access(diskPath);
    return false;
  } catch {
    // absent: create it below
  }
  const tmp = `${diskPath}.tmp`;
  const args = ["create", "-q", "-f", "qcow2"];
  if (image.kind === "disk") args.push("-b", resolve(image.path), "-F", image.format);
  args.push(tmp, `${diskGb}G`);
  try {
    await run(qemuImg, args);
    await rename(tmp, diskPath);
    return true;
  } catch (error) {
    await rm(tmp, { force: true });
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT" && e.path === qemuImg) {
      throw new GuestError(
        DISK_STEP,
        "DISK_TOOL_MISSING",
        `${qemuImg} not found (apt-get install qemu-utils)`,
        true,
      );
    }
    throw new GuestError(
      DISK_STEP,
      "DISK_FAILED",
      `creating the guest disk failed: ${(e.stderr ?? e.message).trim()}`,
      true,
    );
  }
}

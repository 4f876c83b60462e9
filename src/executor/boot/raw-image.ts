/**
 * The deploy agent writes raw images only (dd to the disk, then a checksum of exactly the
 * image's bytes read back). A qcow2 image is converted here, on the executor, before it is
 * published: `qemu-img convert -O raw`, then hashed — the agent verifies the raw image's
 * SHA-256, not the qcow2 file's.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A raw image ready to publish: where it is, its SHA-256 and its byte length. */
export interface RawImage {
  path: string;
  sha256: string;
  sizeBytes: number;
}

/** The SHA-256 (hex) of a file, streamed. */
export async function sha256File(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(path), hash, { signal });
  return hash.digest("hex");
}

/**
 * `path` as a raw image: a raw file is hashed where it is; a qcow2 file is converted into
 * `workDir/<name>.raw` (kept, so the second call costs only the hash).
 */
export async function toRawImage(
  path: string,
  format: "raw" | "qcow2",
  workDir: string,
  signal?: AbortSignal,
): Promise<RawImage> {
  let rawPath = path;
  if (format === "qcow2") {
    await mkdir(workDir, { recursive: true });
    rawPath = join(workDir, `${path.split("/").pop() ?? "image"}.raw`);
    const exists = await stat(rawPath).then(
      () => true,
      () => false,
    );
    if (!exists) {
      const tmp = `${rawPath}.tmp`;
      try {
        await run("qemu-img", ["convert", "-f", "qcow2", "-O", "raw", path, tmp], { signal });
      } catch (error) {
        await rm(tmp, { force: true });
        const e = error as NodeJS.ErrnoException & { stderr?: string };
        throw new Error(
          e.code === "ENOENT"
            ? "qemu-img not found: apt-get install qemu-utils"
            : `qemu-img convert ${path}: ${e.stderr?.trim() || e.message}`,
        );
      }
      await rename(tmp, rawPath);
    }
  }
  const [sha256, s] = await Promise.all([sha256File(rawPath, signal), stat(rawPath)]);
  return { path: rawPath, sha256, sizeBytes: s.size };
}

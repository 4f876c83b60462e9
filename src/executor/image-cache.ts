/**
 * Makes a task's image available on this host and proves it is the image the control plane
 * registered: a local file is hashed (SHA-256, streaming) and compared; an http(s) URL is
 * downloaded to `<stateDir>/images/<sha256>` (a temp file renamed into place once verified).
 * A verified file is remembered by (path, size, mtime), so using it again costs no hashing.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { type Image, ImageFormat } from "../gen/mulligan/control/v1/control_pb.js";
import { GuestError, type GuestImage } from "./drivers/vm-driver.js";

/** The step name image failures and progress are reported under. */
export const IMAGE_STEP = "image";

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** What was last proven about a file: it had this size and mtime when it hashed to sha256. */
interface Verified {
  size: number;
  mtimeMs: number;
  sha256: string;
}

export class ImageCache {
  private readonly verified = new Map<string, Verified>();
  /** Downloads under way, by checksum: two tasks of one image share one download. */
  private readonly downloads = new Map<string, Promise<string>>();

  /** `stateDir/images` holds downloaded images. */
  constructor(private readonly stateDir: string) {}

  /** The image of a task as the driver boots it, every file present and verified. */
  async prepare(
    image: Image,
    signal?: AbortSignal,
    onProgress?: (message: string) => void,
  ): Promise<GuestImage> {
    const source = image.source;
    if (source.case === "disk") {
      const format = diskFormat(source.value.format);
      const path = await this.file(source.value.source, source.value.sha256, signal, onProgress);
      return { kind: "disk", path, format };
    }
    if (source.case === "kernel") {
      const k = source.value;
      const kernelPath = await this.file(k.kernel, k.kernelSha256, signal, onProgress);
      const initrdPath = await this.file(k.initrd, k.initrdSha256, signal, onProgress);
      return { kind: "kernel", kernelPath, initrdPath, cmdline: k.cmdline };
    }
    throw new GuestError(IMAGE_STEP, "IMAGE_INVALID", `image ${image.name} has no source`, false);
  }

  /** A local path of `source` (a path, file: or http(s): URL) whose content hashes to sha256. */
  async file(
    source: string,
    sha256: string,
    signal?: AbortSignal,
    onProgress?: (message: string) => void,
  ): Promise<string> {
    const expected = sha256.trim().toLowerCase();
    if (!SHA256_HEX.test(expected))
      throw new GuestError(
        IMAGE_STEP,
        "IMAGE_CHECKSUM_INVALID",
        `image ${source} has no valid SHA-256 (got "${sha256}")`,
        false,
      );
    if (/^https?:\/\//i.test(source)) return this.download(source, expected, signal, onProgress);
    const path = source.startsWith("file:") ? fileURLToPath(source) : source;
    await this.verify(path, expected, signal, onProgress);
    return path;
  }

  private async verify(
    path: string,
    expected: string,
    signal: AbortSignal | undefined,
    onProgress: ((message: string) => void) | undefined,
  ): Promise<void> {
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(path);
    } catch (err) {
      throw unavailable(`image file ${path}: ${(err as Error).message}`);
    }
    if (!info.isFile()) throw unavailable(`image ${path} is not a regular file`);
    const known = this.verified.get(path);
    if (known && known.size === info.size && known.mtimeMs === info.mtimeMs) {
      if (known.sha256 === expected) return;
      throw mismatch(path, expected, known.sha256);
    }
    onProgress?.(`verifying ${path}`);
    let actual: string;
    try {
      const hash = createHash("sha256");
      await pipeline(createReadStream(path), hash, { signal });
      actual = hash.digest("hex");
    } catch (err) {
      if (signal?.aborted) throw err;
      throw unavailable(`image file ${path}: ${(err as Error).message}`);
    }
    this.verified.set(path, { size: info.size, mtimeMs: info.mtimeMs, sha256: actual });
    if (actual !== expected) throw mismatch(path, expected, actual);
  }

  private download(
    url: string,
    expected: string,
    signal: AbortSignal | undefined,
    onProgress: ((message: string) => void) | undefined,
  ): Promise<string> {
    let running = this.downloads.get(expected);
    if (!running) {
      running = this.fetchInto(url, expected, signal, onProgress).finally(() =>
        this.downloads.delete(expected),
      );
      this.downloads.set(expected, running);
    }
    return running;
  }

  private async fetchInto(
    url: string,
    expected: string,
    signal: AbortSignal | undefined,
    onProgress: ((message: string) => void) | undefined,
  ): Promise<string> {
    const dir = join(this.stateDir, "images");
    const path = join(dir, expected);
    try {
      // Already downloaded (by an earlier run, maybe): verified again unless remembered.
      await this.verify(path, expected, signal, onProgress);
      return path;
    } catch (err) {
      if (!(err instanceof GuestError)) throw err;
      // Absent or damaged: download it again below.
    }
    onProgress?.(`downloading ${url}`);
    await mkdir(dir, { recursive: true });
    const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
    const hash = createHash("sha256");
    try {
      let res: Response;
      try {
        res = await fetch(url, { signal: signal ?? null });
      } catch (err) {
        if (signal?.aborted) throw err;
        throw unavailable(`GET ${url}: ${(err as Error).message}`);
      }
      if (!res.ok || !res.body) throw unavailable(`GET ${url}: HTTP ${res.status}`);
      const hashing = new Transform({
        transform(chunk: Buffer, _enc, done) {
          hash.update(chunk);
          done(null, chunk);
        },
      });
      try {
        await pipeline(Readable.fromWeb(res.body), hashing, createWriteStream(tmp), { signal });
      } catch (err) {
        if (signal?.aborted) throw err;
        throw unavailable(`GET ${url}: ${(err as Error).message}`);
      }
      const actual = hash.digest("hex");
      if (actual !== expected) throw mismatch(url, expected, actual);
      await rename(tmp, path);
    } finally {
      await rm(tmp, { force: true });
    }
    const info = await stat(path);
    this.verified.set(path, { size: info.size, mtimeMs: info.mtimeMs, sha256: expected });
    return path;
  }
}

function diskFormat(format: ImageFormat): "qcow2" | "raw" {
  if (format === ImageFormat.QCOW2) return "qcow2";
  if (format === ImageFormat.RAW) return "raw";
  throw new GuestError(IMAGE_STEP, "IMAGE_FORMAT_INVALID", "disk image has no format", false);
}

function mismatch(source: string, expected: string, actual: string): GuestError {
  return new GuestError(
    IMAGE_STEP,
    "IMAGE_CHECKSUM_MISMATCH",
    `image ${source} does not match its checksum: expected ${expected}, got ${actual}`,
    false,
  );
}

/** The image cannot be read or fetched here; another host may well reach it. */
function unavailable(message: string): GuestError {
  return new GuestError(IMAGE_STEP, "IMAGE_UNAVAILABLE", message, true);
}

/**
 * The image cache against real files and a real HTTP server: verified local files, downloads
 * into the cache (once, even when asked twice at once), and the exact GuestError of each way an
 * image can be wrong or missing.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { ImageFormat, ImageSchema } from "../gen/mulligan/control/v1/control_pb.js";
import { GuestError } from "./drivers/vm-driver.js";
import { ImageCache } from "./image-cache.js";

const CONTENT = Buffer.from("a disk image, or something that hashes like one\n".repeat(1000));
const SHA = sha256(CONTENT);
const OTHER_SHA = "0".repeat(64);

let dir: string;
let server: Server;
let baseUrl: string;
const hits = new Map<string, number>();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "mulligan-images-"));
  server = createServer((req, res) => {
    hits.set(req.url ?? "", (hits.get(req.url ?? "") ?? 0) + 1);
    if (req.url?.startsWith("/image")) {
      // Slow enough that two concurrent requests overlap.
      setTimeout(() => res.end(CONTENT), 50);
      return;
    }
    res.statusCode = 404;
    res.end("no such image");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A fresh cache with its own state directory. */
async function freshCache(): Promise<{ cache: ImageCache; stateDir: string }> {
  const stateDir = await mkdtemp(join(dir, "state-"));
  return { cache: new ImageCache(stateDir), stateDir };
}

/** Asserts that `promise` rejects with exactly this GuestError. */
async function rejectsWith(
  promise: Promise<unknown>,
  expected: { reason: string; hostFault: boolean; message?: RegExp },
): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof GuestError, `not a GuestError: ${err}`);
    assert.equal(err.step, "image");
    assert.equal(err.reason, expected.reason);
    assert.equal(err.hostFault, expected.hostFault);
    if (expected.message) assert.match(err.message, expected.message);
    return true;
  });
}

test("a local file with the right checksum is used in place", async () => {
  const { cache } = await freshCache();
  const path = join(dir, "local.img");
  await writeFile(path, CONTENT);
  assert.equal(await cache.file(path, SHA), path);
  assert.equal(await cache.file(`file://${path}`, SHA.toUpperCase()), path);
});

test("a verified file is not hashed again until its size or mtime changes", async () => {
  const { cache } = await freshCache();
  const path = join(dir, "remembered.img");
  // Whole seconds, so that setting the same mtime again gives the very same value.
  const mtime = 1_700_000_000;
  await writeFile(path, CONTENT);
  await utimes(path, mtime, mtime);
  await cache.file(path, SHA);
  // Same size and mtime, different bytes: only a cache that remembers still accepts it.
  await writeFile(path, Buffer.alloc(CONTENT.length, 1));
  await utimes(path, mtime, mtime);
  assert.equal(await cache.file(path, SHA), path);
  await utimes(path, mtime, mtime + 5);
  await rejectsWith(cache.file(path, SHA), {
    reason: "IMAGE_CHECKSUM_MISMATCH",
    hostFault: false,
  });
});

test("a local file with another checksum is IMAGE_CHECKSUM_MISMATCH, not the host's fault", async () => {
  const { cache } = await freshCache();
  const path = join(dir, "wrong.img");
  await writeFile(path, CONTENT);
  await rejectsWith(cache.file(path, OTHER_SHA), {
    reason: "IMAGE_CHECKSUM_MISMATCH",
    hostFault: false,
    message: new RegExp(`expected ${OTHER_SHA}, got ${SHA}`),
  });
  // Remembered as a mismatch, still refused.
  await rejectsWith(cache.file(path, OTHER_SHA), {
    reason: "IMAGE_CHECKSUM_MISMATCH",
    hostFault: false,
  });
});

for (const [name, source, reason, hostFault] of [
  ["a missing file is IMAGE_UNAVAILABLE (host fault)", "missing.img", "IMAGE_UNAVAILABLE", true],
  ["a directory is IMAGE_UNAVAILABLE", ".", "IMAGE_UNAVAILABLE", true],
  ["an HTTP 404 is IMAGE_UNAVAILABLE", "/absent", "IMAGE_UNAVAILABLE", true],
] as const)
  test(name, async () => {
    const { cache } = await freshCache();
    const resolved = source.startsWith("/") ? `${baseUrl}${source}` : join(dir, source);
    await rejectsWith(cache.file(resolved, SHA), { reason, hostFault });
  });

for (const [name, sha] of [
  ["empty", ""],
  ["too short", "abc"],
  ["not hex", "z".repeat(64)],
] as const)
  test(`a checksum that is ${name} is IMAGE_CHECKSUM_INVALID`, async () => {
    const { cache } = await freshCache();
    await rejectsWith(cache.file(join(dir, "whatever"), sha), {
      reason: "IMAGE_CHECKSUM_INVALID",
      hostFault: false,
    });
  });

test("a URL is downloaded once into images/<sha256>, even when asked twice at once", async () => {
  const { cache, stateDir } = await freshCache();
  const url = `${baseUrl}/image-once`;
  const [a, b] = await Promise.all([cache.file(url, SHA), cache.file(url, SHA)]);
  const expected = join(stateDir, "images", SHA);
  assert.equal(a, expected);
  assert.equal(b, expected);
  assert.deepEqual(await readFile(expected), CONTENT);
  assert.equal(await cache.file(url, SHA), expected);
  assert.equal(hits.get("/image-once"), 1);
  assert.deepEqual(await readdir(join(stateDir, "images")), [SHA]);
});

test("a file already in the cache directory is verified, not downloaded", async () => {
  const { cache, stateDir } = await freshCache();
  await new ImageCache(stateDir).file(`${baseUrl}/image-kept`, SHA);
  assert.equal(await cache.file(`${baseUrl}/image-kept`, SHA), join(stateDir, "images", SHA));
  assert.equal(hits.get("/image-kept"), 1);
});

test("a download with another checksum leaves nothing behind", async () => {
  const { cache, stateDir } = await freshCache();
  await rejectsWith(cache.file(`${baseUrl}/image-wrong`, OTHER_SHA), {
    reason: "IMAGE_CHECKSUM_MISMATCH",
    hostFault: false,
    message: new RegExp(`expected ${OTHER_SHA}, got ${SHA}`),
  });
  assert.deepEqual(await readdir(join(stateDir, "images")), []);
});

test("prepare maps a disk image and a kernel image to the driver's GuestImage", async () => {
  const { cache } = await freshCache();
  const path = join(dir, "prepared.img");
  await writeFile(path, CONTENT);
  const disk = create(ImageSchema, {
    name: "disk",
    source: { case: "disk", value: { source: path, format: ImageFormat.QCOW2, sha256: SHA } },
  });
  assert.deepEqual(await cache.prepare(disk), { kind: "disk", path, format: "qcow2" });
  const kernel = create(ImageSchema, {
    name: "kernel",
    source: {
      case: "kernel",
      value: {
        kernel: path,
        kernelSha256: SHA,
        initrd: `${baseUrl}/image-initrd`,
        initrdSha256: SHA,
        cmdline: "console=ttyS0",
      },
    },
  });
  const prepared = await cache.prepare(kernel);
  assert.equal(prepared.kind, "kernel");
  assert.ok(prepared.kind === "kernel" && prepared.kernelPath === path);
  assert.ok(prepared.kind === "kernel" && prepared.initrdPath.endsWith(`/images/${SHA}`));
  assert.ok(prepared.kind === "kernel" && prepared.cmdline === "console=ttyS0");
});

test("prepare refuses a disk without format and an image without source", async () => {
  const { cache } = await freshCache();
  const noFormat = create(ImageSchema, {
    name: "x",
    source: { case: "disk", value: { source: "/x", sha256: SHA } },
  });
  await rejectsWith(cache.prepare(noFormat), { reason: "IMAGE_FORMAT_INVALID", hostFault: false });
  await rejectsWith(cache.prepare(create(ImageSchema, { name: "y" })), {
    reason: "IMAGE_INVALID",
    hostFault: false,
  });
});

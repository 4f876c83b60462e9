/**
 * The tiny bootable guest the end-to-end tests run (scripts/build-test-image.sh: Debian's cloud
 * kernel and a busybox initramfs), built once into .cache/test-image. A machine without QEMU
 * fails the test with what to install; it never skips.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";

export interface TestImage {
  kernel: string;
  initrd: string;
  cmdline: string;
  bootMarker: string;
  kernelSha256: string;
  initrdSha256: string;
}

const ROOT = resolve(import.meta.dirname, "..");
const TOOLS = ["qemu-system-x86_64", "qemu-img", "genisoimage"];

/** Fails with the apt-get line when QEMU's tools are missing. */
export function requireQemu(): void {
  const missing = TOOLS.filter((t) => spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0);
  if (missing.length > 0)
    throw new Error(
      `missing ${missing.join(", ")}: apt-get install qemu-system-x86 qemu-utils genisoimage busybox-static cpio`,
    );
}

/** Builds (or reuses) the test image and describes it. */
export function testImage(): TestImage {
  requireQemu();
  const dir = join(ROOT, ".cache", "test-image");
  execFileSync("bash", [join(ROOT, "scripts", "build-test-image.sh"), dir], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  const meta = JSON.parse(readFileSync(join(dir, "image.json"), "utf8")) as Record<string, string>;
  const field = (k: string) => {
    const v = meta[k];
    if (typeof v !== "string") throw new Error(`image.json has no ${k}`);
    return v;
  };
  return {
    kernel: join(dir, field("kernel")),
    initrd: join(dir, field("initrd")),
    cmdline: field("cmdline"),
    bootMarker: field("boot_marker"),
    kernelSha256: field("kernel_sha256"),
    initrdSha256: field("initrd_sha256"),
  };
}

/** The RegisterImage request for the test image (direct kernel boot) under `name`. */
export function testImageRequest(image: TestImage, name = "tiny") {
  return {
    name,
    source: {
      case: "kernel" as const,
      value: {
        kernel: image.kernel,
        kernelSha256: image.kernelSha256,
        initrd: image.initrd,
        initrdSha256: image.initrdSha256,
        cmdline: image.cmdline,
      },
    },
    bootMarker: image.bootMarker,
  };
}

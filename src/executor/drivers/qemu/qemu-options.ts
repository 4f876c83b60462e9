/**
 * Options of `QemuDriver.create`, with every default compiled in one place: callers state only
 * what differs from a Debian host with qemu-system-x86, qemu-utils and genisoimage installed.
 */
import type { Logger } from "pino";

/** How long destroy() lets a guest power off after the ACPI request before it is killed. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 2_000;

export interface QemuDriverOptions {
  /** Holds one directory per guest, `<stateDir>/<uuid>/`. */
  stateDir: string;
  qemuBinary?: string;
  qemuImg?: string;
  genisoimage?: string;
  /**
   * "auto" uses KVM only when probeKvm proves it works (and drops it for TCG if it then fails a
   * guest that TCG boots); TCG is the default.
   */
  accel?: "tcg" | "kvm" | "auto";
  /** What "auto" asks whether KVM works (default: probeKvm). */
  probeKvm?: () => Promise<boolean>;
  logger?: Logger;
  shutdownGraceMs?: number;
}

/** The options the driver runs with, every default filled in. */
export type ResolvedOptions = Required<Omit<QemuDriverOptions, "logger" | "accel" | "probeKvm">>;

export function resolveOptions(options: QemuDriverOptions): ResolvedOptions {
  return {
    stateDir: options.stateDir,
    qemuBinary: options.qemuBinary ?? "qemu-system-x86_64",
    qemuImg: options.qemuImg ?? "qemu-img",
    genisoimage: options.genisoimage ?? "genisoimage",
    shutdownGraceMs: options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS,
  };
}

/**
 * Whether KVM really works on this host. /dev/kvm existing proves little: on nested or
 * containerised hosts the firmware may run under KVM while the switch to protected mode hangs
 * (measured here: SeaBIOS prints its banner, Linux never starts). So the probe boots a trivial
 * guest that QEMU loads as a multiboot kernel — 32-bit protected mode code writing a line to
 * the serial port — and KVM counts as working only if that line shows within a few seconds.
 */
import { spawn } from "node:child_process";
import { access, constants, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Accel } from "./qemu-args.js";

/** How long the probe guest may take to print its line. */
export const PROBE_TIMEOUT_MS = 5_000;

/** The line the probe guest prints on COM1. */
const PROBE_LINE = "MULLIGAN_PROBE_OK";

/**
 * A multiboot kernel (a.out kludge, loaded at 1 MiB): the header, then
 * `mov dx,0x3f8; mov esi,msg; l: lodsb; test al,al; jz h; out dx,al; jmp l; h: cli; hlt; jmp h`.
 */
function probeKernel(): Buffer {
  const base = 0x100000;
  const magic = 0x1badb002;
  const flags = 0x00010000; // addresses given in the header: no ELF needed
  const header = Buffer.alloc(32);
  const fields = [magic, flags, -(magic + flags) >>> 0, base, base, 0, 0, base + 32];
  for (const [i, value] of fields.entries()) header.writeUInt32LE(value, i * 4);
  const code = Buffer.from([
    0x66, 0xba, 0xf8, 0x03, 0xbe, 0, 0, 0, 0, 0xac, 0x84, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8, 0xfa,
    0xf4, 0xeb, 0xfd,
  ]);
  code.writeUInt32LE(base + header.length + code.length, 5);
  return Buffer.concat([header, code, Buffer.from(`${PROBE_LINE}\n\0`)]);
}

/** True if the probe guest runs under `accel` (TCG always should: it checks the probe). */
export async function probeBoot(
  accel: Accel,
  options: { qemuBinary?: string; timeoutMs?: number } = {},
): Promise<boolean> {
  const dir = await mkdtemp(join(tmpdir(), "mulligan-probe-"));
  try {
    const kernel = join(dir, "probe.bin");
    await writeFile(kernel, probeKernel());
    const args = ["-accel", accel, "-machine", "q35", "-m", "32", "-nodefaults", "-nographic"];
    args.push("-serial", "stdio", "-no-reboot", "-kernel", kernel);
    if (accel === "kvm") args.push("-cpu", "host");
    return await watchForLine(options.qemuBinary ?? "qemu-system-x86_64", args, options.timeoutMs);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** True only if /dev/kvm is usable and the probe guest runs under KVM. */
export async function probeKvm(
  options: { qemuBinary?: string; timeoutMs?: number; kvmDevice?: string } = {},
): Promise<boolean> {
  try {
    await access(options.kvmDevice ?? "/dev/kvm", constants.R_OK | constants.W_OK);
  } catch {
    return false;
  }
  return probeBoot("kvm", options);
}

function watchForLine(binary: string, args: string[], timeoutMs = PROBE_TIMEOUT_MS) {
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "ignore"] });
  return new Promise<boolean>((resolve) => {
    let output = "";
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      output += chunk;
      if (output.includes(PROBE_LINE)) finish(true);
    });
    child.on("error", () => finish(false));
    child.on("exit", () => finish(output.includes(PROBE_LINE)));
  });
}

/**
 * The QEMU command line of a guest, as a pure function of its spec and files, so what a guest
 * runs with is readable (and testable) in one place. Nothing secret ever goes on it: argv is
 * world-readable in /proc; secrets reach a guest through its config drive only.
 */
import type { GuestSpec } from "../vm-driver.js";
import type { GuestFiles } from "./guest-files.js";

/** The accelerator QEMU runs a guest with (decided once per driver, see kvm-probe.ts). */
export type Accel = "tcg" | "kvm";

export function qemuArgs(spec: GuestSpec, files: GuestFiles, accel: Accel): string[] {
  const args = [
    "-name",
    `guest=${spec.uuid}`,
    "-machine",
    "q35",
    "-accel",
    accel,
    "-smp",
    String(spec.vcpus),
    "-m",
    String(spec.memoryMb),
    "-nographic",
    "-nodefaults",
    "-serial",
    `file:${opt(files.consoleLog)}`,
    "-qmp",
    `unix:${opt(files.qmpSocket)},server=on,wait=off`,
    "-pidfile",
    files.pidFile,
    "-drive",
    `file=${opt(files.disk)},format=qcow2,if=virtio,cache=writeback,discard=unmap`,
    "-drive",
    `file=${opt(files.configIso)},format=raw,if=virtio,readonly=on`,
    "-netdev",
    "user,id=net0",
    "-device",
    "virtio-net-pci,netdev=net0",
    // A guest that reboots or panics stops instead of looping; the executor decides what next.
    "-no-reboot",
  ];
  // KVM passes the host CPU through; TCG keeps QEMU's default model, the cheapest to emulate.
  if (accel === "kvm") args.push("-cpu", "host");
  if (spec.image.kind === "kernel") {
    args.push("-kernel", spec.image.kernelPath, "-initrd", spec.image.initrdPath);
    args.push("-append", spec.image.cmdline);
  }
  return args;
}

/** A path inside a QEMU option string, where a comma is written as two. */
function opt(path: string): string {
  return path.replaceAll(",", ",,");
}

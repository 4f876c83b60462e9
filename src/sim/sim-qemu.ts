/**
 * The QEMU guest behind a simulated bare-metal node. QEMU runs for the whole life of the node,
 * started paused (`-S`): a node whose guest is not running is a node whose power is off, so a
 * BMC powers it on with `system_reset` + `cont` and off with `stop`, and `-no-shutdown` turns
 * an OS poweroff into the same "off". Boot devices carry `bootindex` and `-boot strict=on`, so
 * the boot order the BMC sets over QMP (qom-set bootindex, effective at the next reset) is the
 * only one the firmware tries. NICs use user networking with `bootfile=<bootUrl>`: QEMU's iPXE
 * ROM (Debian ipxe-qemu) fetches the executor's iPXE script from the host at 10.0.2.2.
 * Two QMP sockets: one for the BMC, one for tests and operators (`qmp.sock`).
 */
import { spawn } from "node:child_process";
import { open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { QmpClient } from "../executor/drivers/qemu/qmp-client.js";

/** The files of one simulated node, all inside its directory. */
export interface SimFiles {
  dir: string;
  disk: string;
  serialLog: string;
  qemuLog: string;
  pidFile: string;
  /** The BMC's QMP socket (the emulator or the ipmi_sim hook). */
  bmcQmp: string;
  /** The QMP socket for tests and operators. */
  qmp: string;
  /** The Boot source override the BMC keeps (JSON). */
  bootState: string;
  /** The image in the virtual CD, when one is inserted. */
  media: string;
}

export function simFiles(dir: string): SimFiles {
  return {
    dir,
    disk: join(dir, "disk.qcow2"),
    serialLog: join(dir, "serial.log"),
    qemuLog: join(dir, "qemu.log"),
    pidFile: join(dir, "qemu.pid"),
    bmcQmp: join(dir, "bmc-qmp.sock"),
    qmp: join(dir, "qmp.sock"),
    bootState: join(dir, "boot.json"),
    media: join(dir, "virtual-media.iso"),
  };
}

/** What the guest is made of. */
export interface SimGuestSpec {
  name: string;
  memoryMb: number;
  vcpus: number;
  macs: string[];
  bootUrl: string;
}

/** The QEMU ids of the boot devices, addressed by qom-set under /machine/peripheral/. */
export const DEVICE_IDS = { nic: "nic0", disk: "disk0", cdrom: "cd0" } as const;

export function simQemuArgs(spec: SimGuestSpec, files: SimFiles): string[] {
  const args = ["-name", `guest=sim-${opt(spec.name)}`, "-machine", "q35", "-accel", "tcg"];
  args.push("-smp", String(spec.vcpus), "-m", String(spec.memoryMb));
  args.push("-nographic", "-nodefaults", "-S", "-no-shutdown", "-boot", "strict=on");
  args.push("-serial", `file:${opt(files.serialLog)}`);
  args.push("-qmp", `unix:${opt(files.bmcQmp)},server=on,wait=off`);
  args.push("-qmp", `unix:${opt(files.qmp)},server=on,wait=off`);
  args.push("-pidfile", files.pidFile);
  args.push("-drive", `file=${opt(files.disk)},format=qcow2,if=none,id=hd0,cache=writeback`);
  args.push("-device", `virtio-blk-pci,drive=hd0,id=${DEVICE_IDS.disk},bootindex=1`);
  args.push("-drive", "if=none,id=cdrom0,media=cdrom,readonly=on");
  args.push("-device", `ide-cd,drive=cdrom0,id=${DEVICE_IDS.cdrom},bus=ide.1`);
  for (const [i, mac] of spec.macs.entries()) {
    args.push("-netdev", `user,id=net${i},bootfile=${opt(spec.bootUrl)}`);
    const id = i === 0 ? DEVICE_IDS.nic : `nic${i}`;
    const boot = i === 0 ? ",bootindex=2" : "";
    args.push("-device", `virtio-net-pci,netdev=net${i},id=${id},mac=${mac}${boot}`);
  }
  return args;
}

/** Starts the guest's QEMU (powered off) and resolves with its pid once QMP answers. */
export async function startSimQemu(
  spec: SimGuestSpec,
  files: SimFiles,
  binary = "qemu-system-x86_64",
): Promise<number> {
  await Promise.all([files.pidFile, files.qmp, files.bmcQmp].map((p) => rm(p, { force: true })));
  const log = await open(files.qemuLog, "w");
  const child = spawn(binary, simQemuArgs(spec, files), {
    detached: true,
    stdio: ["ignore", log.fd, log.fd],
  });
  child.unref();
  let exited = false;
  child.on("exit", () => {
    exited = true;
  });
  await new Promise<void>((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "ENOENT"
          ? new Error(`${binary} not found: install the Debian package qemu-system-x86`)
          : error,
      ),
    );
  }).finally(() => log.close());
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited) {
      const out = await readFile(files.qemuLog, "utf8").catch(() => "");
      throw new Error(`QEMU of ${spec.name} exited at start: ${out.trim() || "(no output)"}`);
    }
    try {
      const qmp = await QmpClient.connect(files.qmp, 1_000);
      qmp.close();
      return child.pid as number;
    } catch {
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`QEMU of ${spec.name} did not answer on QMP within 20 s`);
      }
      await sleep(100);
    }
  }
}

/** Kills the guest's QEMU and waits until it is gone. */
export async function stopSimQemu(pid: number): Promise<void> {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return;
  }
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(25);
  }
}

/** A path inside a QEMU option string, where a comma is written as two. */
function opt(value: string): string {
  return value.replaceAll(",", ",,");
}

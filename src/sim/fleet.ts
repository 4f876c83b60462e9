/**
 * Simulated bare-metal nodes: a QEMU guest (TCG, blank qcow2 disk, NICs on user networking that
 * netboot `bootUrl` through QEMU's iPXE ROM), powered off until its BMC powers it on, behind a
 * real BMC — ipmi_sim (IPMI 2.0 lanplus) or the in-repo Redfish emulator (HTTP) — on 127.0.0.1.
 * Tests and `scripts/sim-fleet.sh` use it:
 *
 *   const node = await startSimNode({ name: "n1", bmc: "ipmi", username: "admin",
 *     password: "secret", bootUrl: "http://10.0.2.2:8080/boot/ipxe?mac=${net0/mac}",
 *     diskGb: 2, memoryMb: 512, vcpus: 1, workDir: dir });
 *   const bmc = createBmcDriver(node.bmcEndpoint);   // power, boot device, verify
 *   ...; await node.stop();
 *
 * The guest's serial console goes to `serialLogPath`; `qmpSocket` is free for tests (the BMC
 * has its own). `freezeBmc()` SIGSTOPs the BMC process, `thawBmc()` resumes it. Boot devices:
 * pxe = NIC first (disk after), disk = disk only, cdrom = CD then disk, no override = disk then
 * NIC. Needs Debian packages qemu-system-x86, qemu-utils, ipxe-qemu, and openipmi for ipmi.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, open, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { BmcEndpoint } from "../executor/drivers/bmc-driver.js";
import { startIpmiSim } from "./ipmi-sim.js";
import { simFiles, startSimQemu, stopSimQemu } from "./sim-qemu.js";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** What to simulate. */
export interface SimNodeOptions {
  name: string;
  bmc: "ipmi" | "redfish";
  username: string;
  password: string;
  /** The iPXE chain URL the NIC netboots, as the guest sees it (host = 10.0.2.2). */
  bootUrl: string;
  diskGb: number;
  memoryMb: number;
  vcpus: number;
  /** One NIC per MAC; one random 52:54:00 MAC when absent. */
  macs?: string[];
  /** The node's files go to `<workDir>/<name>/`. */
  workDir: string;
}

/** A running simulated node. */
export interface SimNode {
  name: string;
  bmcEndpoint: BmcEndpoint;
  macs: string[];
  diskPath: string;
  serialLogPath: string;
  qmpSocket: string;
  /** The node's directory (QEMU and BMC logs, configuration). */
  dir: string;
  qemuPid: number;
  bmcPid: number;
  /** Stops the BMC and the guest; the files stay. */
  stop(): Promise<void>;
  /** SIGSTOPs the BMC process: it stops answering, like a hung BMC. */
  freezeBmc(): void;
  /** SIGCONTs the BMC process. */
  thawBmc(): void;
}

/** A locally administered MAC in QEMU's 52:54:00 range. */
export function randomMac(): string {
  const tail = Array.from(randomBytes(3), (x) => x.toString(16).padStart(2, "0"));
  return ["52", "54", "00", ...tail].join(":");
}

export async function startSimNode(opts: SimNodeOptions): Promise<SimNode> {
  const dir = join(opts.workDir, opts.name);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const files = simFiles(dir);
  const macs = opts.macs && opts.macs.length > 0 ? opts.macs : [randomMac()];
  await promisify(execFile)("qemu-img", [
    "create",
    "-f",
    "qcow2",
    files.disk,
    `${opts.diskGb}G`,
  ]).catch((error: NodeJS.ErrnoException) => {
    throw error.code === "ENOENT"
      ? new Error("qemu-img not found: install the Debian package qemu-utils")
      : error;
  });
  const spec = {
    name: opts.name,
    memoryMb: opts.memoryMb,
    vcpus: opts.vcpus,
    macs,
    bootUrl: opts.bootUrl,
  };
  const qemuPid = await startSimQemu(spec, files);
  let bmc: { pid: number; port: number; process: ChildProcess; scheme?: "http" };
  try {
    bmc =
      opts.bmc === "ipmi"
        ? await startIpmiSim({
            name: opts.name,
            dir,
            username: opts.username,
            password: opts.password,
          })
        : await startRedfishEmulator(opts, dir, macs);
  } catch (error) {
    await stopSimQemu(qemuPid);
    throw error;
  }
  const endpoint: BmcEndpoint = {
    driver: opts.bmc,
    address: "127.0.0.1",
    port: bmc.port,
    username: opts.username,
    password: opts.password,
  };
  if (opts.bmc === "redfish") endpoint.scheme = "http";
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(bmc.pid, name);
    } catch {
      // already gone
    }
  };
  return {
    name: opts.name,
    bmcEndpoint: endpoint,
    macs,
    diskPath: files.disk,
    serialLogPath: files.serialLog,
    qmpSocket: files.qmp,
    dir,
    qemuPid,
    bmcPid: bmc.pid,
    freezeBmc: () => signal("SIGSTOP"),
    thawBmc: () => signal("SIGCONT"),
    async stop() {
      signal("SIGCONT");
      if (bmc.process.exitCode === null && bmc.process.signalCode === null) {
        const gone = new Promise((ok) => bmc.process.once("exit", ok));
        signal("SIGKILL");
        await gone;
      }
      await stopSimQemu(qemuPid);
    },
  };
}

/** Starts the emulator process for the node and waits for its `listening <url>` line. */
async function startRedfishEmulator(opts: SimNodeOptions, dir: string, macs: string[]) {
  const passwordFile = join(dir, "bmc-password");
  await writeFile(passwordFile, opts.password, { mode: 0o600 });
  const log = await open(join(dir, "redfish-emulator.log"), "w");
  const args = ["--import", "tsx", join(REPO, "src/sim/redfish-emulator-main.ts")];
  args.push("--dir", dir, "--name", opts.name, "--username", opts.username);
  args.push("--password-file", passwordFile, "--vcpus", String(opts.vcpus));
  args.push("--memory-mb", String(opts.memoryMb), "--macs", macs.join(","));
  const child = spawn(process.execPath, args, { cwd: REPO, stdio: ["ignore", "pipe", log.fd] });
  const port = await new Promise<number>((ok, fail) => {
    let out = "";
    const timer = setTimeout(
      () => fail(new Error("the Redfish emulator did not start in 30 s")),
      30_000,
    );
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      const match = /listening https?:\/\/[^:]+:(\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        ok(Number(match[1]));
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      fail(new Error(`the Redfish emulator exited (${code}); see ${dir}/redfish-emulator.log`));
    });
  }).finally(() => log.close());
  child.stdout?.resume();
  return { pid: child.pid as number, port, process: child };
}

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
 * has its own). `freezeBmc()` SIGSTOPs the BMC process, `thawBmc()` resumes it. Each node also
 * runs a management process (sim-node-main.ts: the Redfish emulator, or the chassis control
 * that ipmi_sim's hook forwards to). A node never outlives the process that started it: when
 * that process dies without `stop()`, the node process kills the guest and the BMC. Boot devices:
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
  /** Redfish over HTTPS with a self-signed certificate (the endpoint gets verifyTls false). */
  redfishTls?: boolean;
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
  /** SIGSTOPs the BMC process (ipmi_sim or the Redfish emulator), like a hung BMC. */
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
  await run("qemu-img", ["create", "-f", "qcow2", files.disk, `${opts.diskGb}G`], "qemu-utils");
  const { name, memoryMb, vcpus, bootUrl } = opts;
  const qemuPid = await startSimQemu({ name, memoryMb, vcpus, macs, bootUrl }, files);
  const children: ChildProcess[] = [];
  const endpoint: BmcEndpoint = {
    driver: opts.bmc,
    address: "127.0.0.1",
    port: 0,
    username: opts.username,
    password: opts.password,
  };
  let bmc: ChildProcess;
  try {
    const node = await startNodeProcess(opts, dir, macs);
    children.push(node.process);
    if (node.control) {
      const { username, password } = opts;
      const sim = await startIpmiSim({ name, dir, username, password, control: node.control });
      children.push(sim.process);
      node.process.stdin?.write(`own ${sim.pid}\n`);
      bmc = sim.process;
      endpoint.port = sim.port;
    } else if (node.redfish) {
      bmc = node.process;
      endpoint.port = node.redfish.port;
      endpoint.scheme = node.redfish.scheme;
      if (opts.redfishTls) endpoint.verifyTls = false;
    } else throw new Error(`the node process of ${name} serves no BMC`);
  } catch (error) {
    await Promise.all(children.map(kill));
    await stopSimQemu(qemuPid);
    throw error;
  }
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(bmc.pid as number, sig);
    } catch {
      // already gone
    }
  };
  return {
    name,
    bmcEndpoint: endpoint,
    macs,
    diskPath: files.disk,
    serialLogPath: files.serialLog,
    qmpSocket: files.qmp,
    dir,
    qemuPid,
    bmcPid: bmc.pid as number,
    freezeBmc: () => signal("SIGSTOP"),
    thawBmc: () => signal("SIGCONT"),
    async stop() {
      signal("SIGCONT");
      await Promise.all(children.map(kill));
      await stopSimQemu(qemuPid);
    },
  };
}

/** SIGKILLs a child and waits for its exit. */
async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((ok) => child.once("exit", ok));
  child.kill("SIGKILL");
  await gone;
}

/** What the node process serves, read from its first stdout lines. */
interface NodeProcess {
  process: ChildProcess;
  control?: { port: number; token: string };
  redfish?: { port: number; scheme: "http" | "https" };
}

/** Starts the node's management process (sim-node-main.ts) and reads what it serves. */
async function startNodeProcess(
  opts: SimNodeOptions,
  dir: string,
  macs: string[],
): Promise<NodeProcess> {
  const args = ["--import", "tsx", join(REPO, "src/sim/sim-node-main.ts")];
  args.push("--dir", dir, "--name", opts.name);
  if (opts.bmc === "ipmi") args.push("--ipmi-control");
  else {
    const passwordFile = join(dir, "bmc-password");
    await writeFile(passwordFile, opts.password, { mode: 0o600 });
    args.push("--redfish", "--username", opts.username, "--password-file", passwordFile);
    args.push("--vcpus", String(opts.vcpus), "--memory-mb", String(opts.memoryMb));
    args.push("--macs", macs.join(","));
    if (opts.redfishTls) {
      const [cert, key] = [join(dir, "bmc-cert.pem"), join(dir, "bmc-key.pem")];
      const req = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30"];
      await run(
        "openssl",
        [...req, "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert],
        "openssl",
      );
      args.push("--tls-cert", cert, "--tls-key", key);
    }
  }
  const log = await open(join(dir, "node-process.log"), "w");
  // Its stdin stays open while this process lives: the node process cleans up when it ends.
  const child = spawn(process.execPath, args, { cwd: REPO, stdio: ["pipe", "pipe", log.fd] });
  child.stdin?.on("error", () => undefined);
  const served = await new Promise<Omit<NodeProcess, "process">>((ok, fail) => {
    let out = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      fail(new Error(`the node process of ${opts.name} did not start within 30 s`));
    }, 30_000);
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      const control = /^control (\d+) (\w+)$/m.exec(out);
      const redfish = /^redfish (https?):\/\/[^:]+:(\d+)$/m.exec(out);
      if (!control && !redfish) return;
      clearTimeout(timer);
      if (control) ok({ control: { port: Number(control[1]), token: control[2] as string } });
      else if (redfish) {
        ok({ redfish: { scheme: redfish[1] as "http" | "https", port: Number(redfish[2]) } });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      fail(new Error(`the node process exited (${code}); see ${dir}/node-process.log`));
    });
  }).finally(() => log.close());
  child.stdout?.resume();
  return { process: child, ...served };
}

/** Runs a tool; a missing one names its Debian package. */
async function run(tool: string, args: string[], debianPackage: string): Promise<void> {
  await promisify(execFile)(tool, args).catch((error: NodeJS.ErrnoException) => {
    throw error.code === "ENOENT"
      ? new Error(`${tool} not found: install the Debian package ${debianPackage}`)
      : error;
  });
}

/**
 * The bare-metal steps a conductor runs for one node task, Ironic's deploy interface in small
 * functions: verify (BMC credentials), inspect and clean (boot the deploy agent over iPXE, ask
 * it for the hardware or to erase the disks, power off), deploy (agent writes the raw image and
 * verifies its SHA-256 on disk, then the node boots persistently from disk and its OS reports
 * in) and undeploy (power off, then clean); besides the steps, the power sync only reads the
 * power. Every step is reported as task progress; every wait has a deadline; whatever
 * happens, the node's boot plan and agent session are cleared.
 */
import { open, stat } from "node:fs/promises";
import type { Logger } from "pino";
import type { NodeTask } from "../gen/mulligan/control/v1/control_pb.js";
import { PowerState } from "../gen/mulligan/control/v1/node_pb.js";
import { sleep } from "./backoff.js";
import type { AgentInventory } from "./boot/agent-protocol.js";
import type { AgentSession } from "./boot/agent-session.js";
import { type BootServer, newAgentToken } from "./boot/boot-server.js";
import { toRawImage } from "./boot/raw-image.js";
import type { BmcDriver } from "./drivers/bmc-driver.js";
import { GuestError } from "./drivers/vm-driver.js";
import { cpuCapabilities } from "./host-inventory.js";
import type { ImageCache } from "./image-cache.js";
import type { TaskLease } from "./task-lease.js";

/** Deadlines of the agent and OS waits (options.ts of the conductor fills them in). */
export interface ConductorTimeouts {
  /** Power on → the agent's hello (firmware, iPXE, kernel, initrd). */
  agentBootMs: number;
  /** One agent command (inspect, erase, deploy). */
  commandMs: number;
  /** Power on from disk → the deployed OS's boot marker. */
  osBootMs: number;
}

/** Everything one step works with. */
export interface StepContext {
  node: NodeTask;
  bmc: BmcDriver;
  boot: BootServer;
  images: ImageCache;
  lease: TaskLease;
  log: Logger;
  timeouts: ConductorTimeouts;
  /** Where images are converted to raw before they are served. */
  workDir: string;
  /** The node's serial console log, when this conductor can read it (simulated fleets). */
  serialLog: string | undefined;
}

const power = (ctx: StepContext, step: string, message: string, on: boolean) =>
  ctx.lease.progress(step, message, { powerState: on ? PowerState.ON : PowerState.OFF });

/** Ironic's verify: the BMC answers with these credentials; reports the power state read. */
export async function verify(ctx: StepContext): Promise<void> {
  void ctx.lease.progress("verify", `checking the ${ctx.node.bmc?.address} BMC`);
  await ctx.bmc.verify(ctx.lease.signal);
  const state = await ctx.bmc.powerState(ctx.lease.signal);
  await power(ctx, "verify", `BMC credentials accepted; power ${state}`, state === "on");
}

/**
 * The periodic power sync: reads the node's power through the BMC and reports it, without a
 * message (control says whether it changed out of band). Powers nothing.
 */
export async function syncPower(ctx: StepContext): Promise<void> {
  const state = await ctx.bmc.powerState(ctx.lease.signal);
  await ctx.lease.progress("power-sync", "", {
    powerState: state === "on" ? PowerState.ON : PowerState.OFF,
  });
}

/**
 * Boots the node into the deploy agent (a fresh token per boot), runs `work` with its session,
 * then has the agent power the node off (hard off through the BMC if it cannot).
 */
async function withAgent<T>(ctx: StepContext, work: (s: AgentSession) => Promise<T>): Promise<T> {
  const { node, bmc, boot, lease } = ctx;
  const signal = lease.signal;
  const token = newAgentToken();
  const session = boot.expectAgent(node.nodeUuid, token, (m) => void lease.progress("agent", m));
  boot.setNodeBoot(node.bootMacs, { kind: "agent", nodeUuid: node.nodeUuid, token });
  try {
    await bmc.setPower("off", signal);
    await bmc.setBootDevice("pxe", false, signal);
    await bmc.setPower("on", signal);
    await power(ctx, "boot-agent", "powered on; network-booting the deploy agent", true);
    await session.hello(ctx.timeouts.agentBootMs, signal);
    void lease.progress("boot-agent", "the deploy agent reported in");
    const result = await work(session);
    try {
      await session.poweroff(ctx.timeouts.commandMs, signal);
    } catch (err) {
      ctx.log.warn({ err: (err as Error).message }, "the agent did not power off; hard off");
    }
    await bmc.setPower("off", signal);
    await power(ctx, "power", "powered off", false);
    return result;
  } catch (err) {
    await bmc.setPower("off").catch(() => undefined);
    throw err;
  } finally {
    session.close();
    boot.setNodeBoot(node.bootMacs, undefined);
  }
}

/** The disks worth writing: every disk the agent saw, by name. */
function disksOf(hw: AgentInventory): string[] {
  return hw.disks.map((d) => d.name).sort();
}

/** Boots the agent and reports the hardware it finds (it becomes the node's inventory). */
export async function inspect(ctx: StepContext): Promise<void> {
  const hw = await withAgent(ctx, (s) => s.inspect(ctx.timeouts.commandMs, ctx.lease.signal));
  const memory = hw.memory_mb;
  await ctx.lease.progress(
    "inspect",
    `${hw.cpus} CPUs, ${memory} MiB, disks ${disksOf(hw).join(" ")}`,
    {
      inventory: {
        cpus: hw.cpus,
        memoryMb: BigInt(memory),
        disks: hw.disks.map((d) => ({ name: d.name, sizeBytes: BigInt(d.size_bytes) })),
        nics: hw.nics.map((n) => ({ mac: n.mac })),
        capabilities: cpuCapabilities(hw.arch, hw.cpu_flags.split(" ")),
      },
    },
  );
}

/** Boots the agent and zeroes every disk it finds. */
export async function clean(ctx: StepContext): Promise<void> {
  const { lease, timeouts } = ctx;
  await withAgent(ctx, async (s) => {
    const disks = disksOf(await s.inspect(timeouts.commandMs, lease.signal));
    void lease.progress("erase", `erasing ${disks.join(", ") || "no disks"}`);
    const r = await s.erase(disks, timeouts.commandMs, lease.signal);
    void lease.progress("erase", `erased ${r.disks.join(", ")} in ${r.seconds} s`);
  });
}

/**
 * Writes the machine's image to the node's first disk through the agent (raw; the agent reads
 * it back and both sides compare the SHA-256), then boots the node persistently from disk and
 * waits for the deployed OS to report in.
 */
export async function deploy(ctx: StepContext): Promise<void> {
  const { node, lease, timeouts } = ctx;
  const image = node.image;
  if (image?.source.case !== "disk")
    throw new GuestError("image", "IMAGE_INVALID", "bare metal deploys disk images only", false);
  void lease.progress("image", `preparing image ${image.name}`);
  const prepared = await ctx.images.prepare(
    image,
    lease.signal,
    (m) => void lease.progress("image", m),
  );
  if (prepared.kind !== "disk")
    throw new GuestError("image", "IMAGE_INVALID", "not a disk image", false);
  const raw = await toRawImage(prepared.path, prepared.format, ctx.workDir, lease.signal);
  const url = ctx.boot.publishImage(raw.path, raw.sha256);
  await withAgent(ctx, async (s) => {
    const disks = disksOf(await s.inspect(timeouts.commandMs, lease.signal));
    const disk = disks[0];
    if (!disk) throw new GuestError("write-image", "DISK_NOT_FOUND", "the node has no disk", true);
    void lease.progress("write-image", `writing ${image.name} to ${disk}`);
    const r = await s.deploy(
      { url, sha256: raw.sha256, sizeBytes: raw.sizeBytes, disk },
      timeouts.commandMs,
      lease.signal,
    );
    void lease.progress("write-image", `sha256 verified on ${disk} after ${r.seconds} s`);
  });
  await ctx.bmc.setBootDevice("disk", true, lease.signal);
  const seen = ctx.serialLog ? await size(ctx.serialLog) : 0;
  await ctx.bmc.setPower("on", lease.signal);
  await power(ctx, "boot-disk", "powered on from disk", true);
  if (ctx.serialLog) await waitForMarker(ctx, ctx.serialLog, seen, image.bootMarker);
}

/** Decommission: power off, then erase the disks; the node is available again after. */
export async function undeploy(ctx: StepContext): Promise<void> {
  await ctx.bmc.setPower("off", ctx.lease.signal);
  await power(ctx, "power", "powered off", false);
  await clean(ctx);
}

async function size(path: string): Promise<number> {
  return stat(path).then(
    (s) => s.size,
    () => 0,
  );
}

/** Waits until the serial log, after byte `from`, matches the image's boot marker. */
async function waitForMarker(ctx: StepContext, path: string, from: number, marker: string) {
  const pattern = new RegExp(marker || "login:");
  const end = Date.now() + ctx.timeouts.osBootMs;
  while (Date.now() < end) {
    const text = await readFrom(path, from);
    if (pattern.test(text)) {
      void ctx.lease.progress("os-boot", "the deployed OS booted from disk");
      return;
    }
    await sleep(250, ctx.lease.signal);
    ctx.lease.signal.throwIfAborted();
  }
  throw new GuestError(
    "os-boot",
    "OS_BOOT_TIMEOUT",
    `the deployed OS did not print /${pattern.source}/ within ${Math.round(ctx.timeouts.osBootMs / 1000)} s`,
    true,
  );
}

async function readFrom(path: string, from: number): Promise<string> {
  const f = await open(path, "r").catch(() => undefined);
  if (!f) return "";
  try {
    const { size: total } = await f.stat();
    const buf = Buffer.alloc(Math.max(0, total - from));
    await f.read(buf, 0, buf.length, from);
    return buf.toString("utf8");
  } finally {
    await f.close();
  }
}

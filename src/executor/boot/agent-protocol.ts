/**
 * The wire contract between the deploy agent (the busybox ramdisk built by
 * scripts/build-deploy-agent.sh) and the boot server: the commands the executor hands out, the
 * results the agent reports, and the typed error a failed step becomes. The agent speaks plain
 * HTTP + flat JSON so that a busybox shell (wget, sed) can produce and read it.
 *
 * Agent → server: POST /agent/v1/<nodeUuid>/<event>, `Authorization: Bearer <token>`, JSON body.
 *   hello      {version}                        the agent booted; answer: a command or "wait"
 *   poll       {}                               waiting for work; held until a command is
 *                                               queued (answer: it) or 15 s pass ("wait")
 *   inventory  {id, cpus, memory_mb, disks, nics, arch}   result of "inspect"
 *   done       {id, command, ...}               result of erase / deploy / poweroff
 *   failed     {id, step, reason, message}      a command failed
 *   progress   {id, message}                    liveness during a long command; answer: {}
 * Every answer that is a command is a flat JSON object with `command` and `id`; "wait" means
 * "poll again". A result whose id is not the outstanding command's is acknowledged and dropped,
 * so an agent retrying a POST never applies a result twice.
 */

/** A command the executor can give an agent (the agent's id is added by the session). */
export type AgentCommand =
  | { command: "inspect" }
  /**
   * Erase each disk (device names as in /sys/block, e.g. "vda"): discard every block where
   * supported, zero the first and last 64 MiB, verify both ends read back as zeros.
   */
  | { command: "erase"; disks: string[] }
  /**
   * Write a RAW image to `disk`: download `image_url`, dd it to /dev/<disk>, then read back
   * exactly `size_bytes` from the disk (page cache dropped) and compare their SHA-256 with
   * `sha256`. qcow2 is converted to raw on the executor first (see toRawImage).
   */
  | { command: "deploy"; image_url: string; sha256: string; size_bytes: number; disk: string }
  | { command: "poweroff" };

/** One block device the agent found. */
export interface AgentDisk {
  name: string;
  size_bytes: number;
}

/** One network interface the agent found. */
export interface AgentNic {
  name: string;
  mac: string;
}

/** The hardware inventory "inspect" reports: what becomes the node's provider inventory. */
export interface AgentInventory {
  cpus: number;
  memory_mb: number;
  arch: string;
  /** The first processor's /proc/cpuinfo flags ("" from an agent that sends none). */
  cpu_flags: string;
  disks: AgentDisk[];
  nics: AgentNic[];
}

/** What an "erase" reports: the disks zeroed and how long it took. */
export interface AgentEraseResult {
  disks: string[];
  seconds: number;
}

/** What a "deploy" reports: the SHA-256 the agent read back from the disk after writing. */
export interface AgentDeployResult {
  disk: string;
  sha256: string;
  size_bytes: number;
  seconds: number;
}

/** What "hello" carries. */
export interface AgentHello {
  version: string;
}

/** Stable reasons an agent step fails with (the node's failure reason). */
export type AgentFailureReason =
  /** The agent did not call back (boot, command or result) before the deadline. */
  | "AGENT_TIMEOUT"
  /** The agent reported a failure it gave no more specific reason for. */
  | "AGENT_FAILED"
  /** The bytes read back from the disk do not hash to the image's SHA-256. */
  | "IMAGE_CHECKSUM_MISMATCH"
  /** The agent could not download the image. */
  | "IMAGE_DOWNLOAD_FAILED"
  /** A disk could not be zeroed, or did not read back as zeros. */
  | "ERASE_FAILED"
  /** The named disk does not exist on the node or is smaller than the image. */
  | "DISK_NOT_FOUND"
  /** The caller's abort signal fired. */
  | "AGENT_ABORTED"
  /** The agent's answer did not match the protocol. */
  | "AGENT_PROTOCOL_ERROR";

const KNOWN_REASONS: ReadonlySet<string> = new Set([
  "AGENT_TIMEOUT",
  "AGENT_FAILED",
  "IMAGE_CHECKSUM_MISMATCH",
  "IMAGE_DOWNLOAD_FAILED",
  "DISK_NOT_FOUND",
  "ERASE_FAILED",
  "AGENT_ABORTED",
  "AGENT_PROTOCOL_ERROR",
]);

/** A failed agent step: `step` is the command (or "hello"), `reason` a stable code. */
export class AgentError extends Error {
  override readonly name = "AgentError";
  constructor(
    readonly step: string,
    readonly reason: AgentFailureReason,
    message: string,
  ) {
    super(message);
  }

  /** The error for an agent's "failed" report; unknown reasons become AGENT_FAILED. */
  static fromReport(step: string, body: Record<string, unknown>): AgentError {
    const reason = typeof body.reason === "string" ? body.reason : "";
    const message = typeof body.message === "string" ? body.message : "agent reported failure";
    return new AgentError(
      typeof body.step === "string" && body.step !== "" ? body.step : step,
      KNOWN_REASONS.has(reason) ? (reason as AgentFailureReason) : "AGENT_FAILED",
      KNOWN_REASONS.has(reason) || reason === "" ? message : `${reason}: ${message}`,
    );
  }
}

/** The events an agent may post; anything else is answered 404. */
export const AGENT_EVENTS = ["hello", "poll", "inventory", "done", "failed", "progress"] as const;

/** One of AGENT_EVENTS. */
export type AgentEvent = (typeof AGENT_EVENTS)[number];

/** Checks an inventory report's shape; returns a message for the first problem, or the value. */
export function parseInventory(body: Record<string, unknown>): AgentInventory | string {
  const int = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 0;
  if (!int(body.cpus)) return "cpus is not a count";
  if (!int(body.memory_mb)) return "memory_mb is not a count";
  if (!Array.isArray(body.disks) || !Array.isArray(body.nics)) return "disks or nics missing";
  const disks: AgentDisk[] = [];
  for (const d of body.disks as Record<string, unknown>[]) {
    if (typeof d?.name !== "string" || !int(d.size_bytes)) return "a disk has no name or size";
    disks.push({ name: d.name, size_bytes: d.size_bytes as number });
  }
  const nics: AgentNic[] = [];
  for (const n of body.nics as Record<string, unknown>[]) {
    if (typeof n?.name !== "string" || typeof n.mac !== "string") return "a nic has no mac";
    nics.push({ name: n.name, mac: n.mac.toLowerCase() });
  }
  return {
    cpus: body.cpus as number,
    memory_mb: body.memory_mb as number,
    arch: typeof body.arch === "string" ? body.arch : "",
    cpu_flags: typeof body.cpu_flags === "string" ? body.cpu_flags : "",
    disks,
    nics,
  };
}

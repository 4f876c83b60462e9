/**
 * The contract between the executor and a virtual-machine driver (today: QEMU). The executor
 * owns tasks, leases and reporting; a driver owns guests on this host. Every method is
 * idempotent, because tasks are delivered at least once: creating a guest that already runs
 * adopts it, destroying one that is gone succeeds.
 */

/** What the guest boots from. */
export type GuestImage =
  /** A disk image file (qcow2 or raw); the guest's root disk is a copy-on-write overlay of it. */
  | { kind: "disk"; path: string; format: "qcow2" | "raw" }
  /** A kernel and initrd booted directly; the guest also gets a blank disk of `diskGb`. */
  | { kind: "kernel"; kernelPath: string; initrdPath: string; cmdline: string };

export interface GuestSpec {
  /** The machine's UUID: names the guest's directory, QEMU's -name and the NoCloud instance-id. */
  uuid: string;
  /** Host name given to the guest (NoCloud local-hostname). */
  hostname: string;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  image: GuestImage;
  /** OpenSSH public keys (NoCloud public-keys). */
  sshKeys: readonly string[];
  /** cloud-init user-data, passed through unchanged ("" for none). */
  userData: string;
  /** A line the guest prints on its serial console once booted (a regular expression). */
  bootMarker: string;
}

/** One step of building a guest, reported to the caller as it happens. */
export interface GuestProgress {
  /** Stable step name: "disk", "config-drive", "start", "boot". */
  step: string;
  message: string;
}

export type GuestPower = "running" | "stopped" | "absent";

export interface GuestState {
  uuid: string;
  power: GuestPower;
  /** PID of the hypervisor process, when it runs. */
  pid?: number;
}

export interface VmDriver {
  /**
   * Builds and starts the guest, then waits until its boot marker shows on the console or
   * `bootTimeoutMs` passes (then it throws GuestError with step "boot"). If the guest already
   * runs (a retried task, a restarted executor), it is adopted, not started twice.
   */
  create(
    spec: GuestSpec,
    options: {
      bootTimeoutMs: number;
      signal?: AbortSignal;
      onProgress?: (p: GuestProgress) => void;
    },
  ): Promise<GuestState>;
  /** Stops the guest (hard, after a short graceful attempt) and deletes its disks and files. */
  destroy(uuid: string): Promise<void>;
  /** The guest's power state as the hypervisor reports it. */
  status(uuid: string): Promise<GuestState>;
  /** The last `maxBytes` of the guest's serial console. */
  consoleLog(uuid: string, maxBytes: number): Promise<string>;
  /** Every guest this driver left on the host (after an executor restart), running or not. */
  list(): Promise<GuestState[]>;
  /** Calls `onChange` when a guest's power state changes by itself (QMP events). */
  watch(onChange: (state: GuestState) => void): () => void;
  /** Stops watching; running guests keep running. */
  close(): Promise<void>;
}

/** A failure of one step of a guest's build, with a stable reason for the machine's record. */
export class GuestError extends Error {
  constructor(
    /** The step that failed ("disk", "config-drive", "start", "boot"). */
    readonly step: string,
    /** Stable UPPER_SNAKE reason, e.g. HYPERVISOR_MISSING, BOOT_TIMEOUT, GUEST_EXITED. */
    readonly reason: string,
    message: string,
    /** True when the host is at fault (retrying elsewhere may succeed). */
    readonly hostFault: boolean,
  ) {
    super(message);
    this.name = "GuestError";
  }
}

/**
 * The VmDriver of this host: one qemu-system-x86_64 process per guest, driven over QMP, with
 * everything a guest owns in `<stateDir>/<uuid>/` (disk.qcow2, config.iso, qmp.sock,
 * console.log, qemu.pid, spec.json). The directory and the pid file are the only state, so a
 * restarted executor lists, adopts and destroys the guests an earlier one started.
 *
 * QEMU's QMP socket serves one client at a time: a driver holds connections only while it
 * watches (one per live guest, shared by every call); otherwise each call connects and closes.
 */
import { access, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import pino, { type Logger } from "pino";
import {
  GuestError,
  type GuestProgress,
  type GuestSpec,
  type GuestState,
  type VmDriver,
} from "../vm-driver.js";
import { BOOT_STEP, parseBootMarker, waitForBootMarker } from "./boot-wait.js";
import { buildConfigDrive, CONFIG_DRIVE_STEP } from "./config-drive.js";
import { DISK_STEP, ensureDisk } from "./guest-disk.js";
import {
  type GuestFiles,
  guestFiles,
  isGuestName,
  isQemuOf,
  livePid,
  tailFile,
} from "./guest-files.js";
import { probeKvm } from "./kvm-probe.js";
import { type Accel, qemuArgs } from "./qemu-args.js";
import { type QemuDriverOptions, type ResolvedOptions, resolveOptions } from "./qemu-options.js";
import { killAndWait, START_STEP, startQemu, waitGone } from "./qemu-process.js";
import { QmpClient, type QmpEvent } from "./qmp-client.js";

/** QMP events that change a guest's power state, and the state each one means. */
const POWER_EVENTS: Readonly<Record<string, GuestState["power"]>> = {
  SHUTDOWN: "stopped",
  STOP: "stopped",
  RESUME: "running",
  RESET: "running",
};

/** QMP run states of a guest that will not go on by itself. */
const STOPPED_FOR_GOOD = new Set(["internal-error", "guest-panicked", "shutdown"]);

export class QemuDriver implements VmDriver {
  private readonly watchers = new Set<(state: GuestState) => void>();
  /** Held QMP connections by guest, while someone watches. */
  private readonly connections = new Map<string, Promise<QmpClient>>();
  /** Guests being destroyed: their power changes are ours, not news. */
  private readonly destroying = new Set<string>();
  private readonly logger: Logger;

  private constructor(
    private readonly options: ResolvedOptions,
    /** The accelerator the next guest starts with. */
    public accel: Accel,
    /**
     * "auto" chose KVM after its probe. The probe's guest is tiny: a host can run it under KVM
     * and still fail a real kernel (measured here: Linux hangs in its real-mode setup, or KVM
     * stops the guest with an internal error). A guest that fails to start or boot under such a
     * KVM is started again under TCG; if TCG boots it, KVM is not used again.
     */
    private kvmOnTrial: boolean,
    logger: Logger | undefined,
  ) {
    this.logger = logger ?? pino({ enabled: false });
  }

  /** Creates the state directory and decides the accelerator (probing KVM for "auto"). */
  static async create(options: QemuDriverOptions): Promise<QemuDriver> {
    const resolved = resolveOptions(options);
    await mkdir(resolved.stateDir, { recursive: true, mode: 0o700 });
    let accel: Accel = options.accel === "kvm" ? "kvm" : "tcg";
    if (options.accel === "auto") {
      const probe = options.probeKvm ?? (() => probeKvm({ qemuBinary: resolved.qemuBinary }));
      accel = (await probe()) ? "kvm" : "tcg";
    }
    options.logger?.info({ accel, stateDir: resolved.stateDir }, "qemu driver ready");
    return new QemuDriver(
      resolved,
      accel,
      options.accel === "auto" && accel === "kvm",
      options.logger,
    );
  }

  async create(
    spec: GuestSpec,
    options: {
      bootTimeoutMs: number;
      signal?: AbortSignal;
      onProgress?: (p: GuestProgress) => void;
    },
  ): Promise<GuestState> {
    const files = guestFiles(this.options.stateDir, spec.uuid);
    const progress = (step: string, message: string) => {
      this.logger.debug({ uuid: spec.uuid, step }, message);
      options.onProgress?.({ step, message });
    };
    const signal = options.signal;
    signal?.throwIfAborted();
    const marker = parseBootMarker(spec.bootMarker);
    const pid = await this.adoptablePid(files, spec.uuid);
    if (pid !== undefined) progress(START_STEP, `adopted the running guest (pid ${pid})`);
    const accel = this.accel;
    try {
      return await this.startAndBoot(spec, files, marker, pid, accel, options, progress);
    } catch (error) {
      if (!this.kvmOnTrial || accel !== "kvm" || pid !== undefined || signal?.aborted) throw error;
      if (!(error instanceof GuestError) || ![START_STEP, BOOT_STEP].includes(error.step))
        throw error;
      // KVM passed its probe but not this guest: try TCG, which decides whose fault it was.
      this.logger.warn({ uuid: spec.uuid, err: error }, "KVM did not boot a guest: trying TCG");
      progress(START_STEP, `KVM did not boot the guest (${error.reason}): starting it under TCG`);
      const left = await livePid(files, spec.uuid);
      if (left !== undefined) await killAndWait(left, spec.uuid);
      // A fresh start: the failed boot may have written to its disk (first-boot markers).
      await Promise.all([files.consoleLog, files.disk].map((f) => rm(f, { force: true })));
      const booted = await this.startAndBoot(
        spec,
        files,
        marker,
        undefined,
        "tcg",
        options,
        progress,
      );
      // TCG booted what KVM did not: KVM is not used again by this driver.
      this.kvmOnTrial = false;
      this.accel = "tcg";
      this.logger.warn("KVM failed a guest that TCG booted: using TCG from now on");
      return booted;
    }
  }

  /** Starts the guest (unless `running` is its adopted pid) and waits for its boot marker. */
  private async startAndBoot(
    spec: GuestSpec,
    files: GuestFiles,
    marker: RegExp,
    running: number | undefined,
    accel: Accel,
    options: { bootTimeoutMs: number; signal?: AbortSignal },
    progress: (step: string, message: string) => void,
  ): Promise<GuestState> {
    const signal = options.signal;
    let pid = running;
    if (pid === undefined) {
      await mkdir(files.dir, { recursive: true, mode: 0o700 });
      await writeFile(files.specJson, `${JSON.stringify(spec, null, 2)}\n`, { mode: 0o600 });
      // Two independent tools: run them side by side (each is a process start).
      await Promise.all([
        ensureDisk(files.disk, spec.image, spec.diskGb, this.options.qemuImg).then((made) =>
          progress(DISK_STEP, made ? `created a ${spec.diskGb} GB disk` : "disk exists"),
        ),
        buildConfigDrive(spec, files.configIso, this.options.genisoimage).then(() =>
          progress(CONFIG_DRIVE_STEP, "built the NoCloud config drive"),
        ),
      ]);
      signal?.throwIfAborted();
      const args = qemuArgs(spec, files, accel);
      // The guest's power-on: what follows until the boot marker is the guest's own boot.
      progress(START_STEP, `starting QEMU (${accel})`);
      pid = await startQemu(this.options.qemuBinary, args, files, spec.uuid, () =>
        this.withQmp(spec.uuid, (qmp) => qmp.execute("query-status", undefined, 1_000)),
      );
      progress(START_STEP, `started QEMU (pid ${pid}, ${accel})`);
    }
    const live = pid;
    // A guest QEMU stopped for good (KVM's internal error, a panic) will not boot: ask QMP at
    // most once a second while waiting, rather than wait out the whole boot timeout.
    let asked = 0;
    const isAlive = async () => {
      if (!(await isQemuOf(live, spec.uuid))) return false;
      if (Date.now() - asked < 1_000) return true;
      asked = Date.now();
      const status = await this.withQmp(spec.uuid, (qmp) =>
        qmp.execute<{ status: string }>("query-status", undefined, 1_000),
      ).catch(() => undefined);
      return status === undefined || !STOPPED_FOR_GOOD.has(status.status);
    };
    progress(BOOT_STEP, `waiting for /${spec.bootMarker}/ on the console`);
    await waitForBootMarker({
      consoleLog: files.consoleLog,
      marker,
      timeoutMs: options.bootTimeoutMs,
      ...(signal ? { signal } : {}),
      isAlive,
      consoleTail: async () =>
        `${await tailFile(files.consoleLog, 2048)}\n${await tailFile(files.qemuLog, 1024)}`,
    });
    progress(BOOT_STEP, "booted");
    if (this.watchers.size > 0) void this.connection(spec.uuid).catch(() => {});
    return { uuid: spec.uuid, power: "running", pid: live };
  }

  async destroy(uuid: string): Promise<void> {
    const files = guestFiles(this.options.stateDir, uuid);
    this.destroying.add(uuid);
    try {
      const pid = await livePid(files, uuid);
      if (pid !== undefined) await this.stop(uuid, pid);
      await this.disconnect(uuid);
      await rm(files.dir, { recursive: true, force: true });
      this.logger.info({ uuid }, "guest destroyed");
    } finally {
      this.destroying.delete(uuid);
    }
  }

  async status(uuid: string): Promise<GuestState> {
    const files = guestFiles(this.options.stateDir, uuid);
    const pid = await livePid(files, uuid);
    if (pid === undefined) {
      const hasDisk = await access(files.disk).then(
        () => true,
        () => false,
      );
      return { uuid, power: hasDisk ? "stopped" : "absent" };
    }
    try {
      const answer = await this.withQmp(uuid, (qmp) =>
        qmp.execute<{ status: string }>("query-status"),
      );
      return { uuid, power: answer.status === "running" ? "running" : "stopped", pid };
    } catch (error) {
      // The process lives; a QMP that does not answer does not make the guest stop.
      this.logger.warn({ uuid, err: error }, "QMP did not answer query-status");
      return { uuid, power: "running", pid };
    }
  }

  consoleLog(uuid: string, maxBytes: number): Promise<string> {
    return tailFile(guestFiles(this.options.stateDir, uuid).consoleLog, maxBytes);
  }

  async list(): Promise<GuestState[]> {
    const names = await readdir(this.options.stateDir).catch(() => [] as string[]);
    return Promise.all(
      names
        .filter(isGuestName)
        .sort()
        .map((uuid) => this.status(uuid)),
    );
  }

  watch(onChange: (state: GuestState) => void): () => void {
    this.watchers.add(onChange);
    if (this.watchers.size === 1) {
      void this.list().then((guests) => {
        for (const g of guests)
          if (g.pid !== undefined) void this.connection(g.uuid).catch(() => {});
      });
    }
    return () => {
      this.watchers.delete(onChange);
      if (this.watchers.size === 0) void this.disconnectAll();
    };
  }

  async close(): Promise<void> {
    this.watchers.clear();
    await this.disconnectAll();
  }

  /** The pid of a guest that runs and answers on QMP; a hung QEMU is killed (started again). */
  private async adoptablePid(files: GuestFiles, uuid: string): Promise<number | undefined> {
    const pid = await livePid(files, uuid);
    if (pid === undefined) return undefined;
    try {
      await this.withQmp(uuid, (qmp) => qmp.execute("query-status"));
      return pid;
    } catch (error) {
      this.logger.warn({ uuid, pid, err: error }, "QEMU does not answer on QMP: killing it");
      await killAndWait(pid, uuid);
      return undefined;
    }
  }

  /** ACPI power-down, then `quit` after the grace period, then SIGKILL. */
  private async stop(uuid: string, pid: number): Promise<void> {
    const grace = this.options.shutdownGraceMs;
    await this.withQmp(uuid, (qmp) => qmp.execute("system_powerdown")).catch(() => {});
    if (await waitGone(pid, uuid, grace)) return;
    await this.withQmp(uuid, (qmp) => qmp.execute("quit", undefined, 1_000)).catch(() => {});
    if (await waitGone(pid, uuid, 2_000)) return;
    this.logger.warn({ uuid, pid }, "QEMU ignored quit: killing it");
    await killAndWait(pid, uuid);
  }

  /** Runs `fn` on the held connection when watching, else on a connection of its own. */
  private async withQmp<T>(uuid: string, fn: (qmp: QmpClient) => Promise<T>): Promise<T> {
    if (this.watchers.size > 0 || this.connections.has(uuid)) {
      return fn(await this.connection(uuid));
    }
    const qmp = await QmpClient.connect(guestFiles(this.options.stateDir, uuid).qmpSocket);
    try {
      return await fn(qmp);
    } finally {
      qmp.close();
    }
  }

  /** The held connection of a guest, made (and subscribed to its events) on first use. */
  private connection(uuid: string): Promise<QmpClient> {
    const held = this.connections.get(uuid);
    if (held) return held;
    const made = QmpClient.connect(guestFiles(this.options.stateDir, uuid).qmpSocket).then(
      (qmp) => {
        qmp.onEvent((e) => this.onEvent(uuid, e));
        qmp.onClose(() => {
          if (this.connections.get(uuid) === made) this.connections.delete(uuid);
          void this.onConnectionLost(uuid);
        });
        return qmp;
      },
    );
    this.connections.set(uuid, made);
    made.catch(() => {
      if (this.connections.get(uuid) === made) this.connections.delete(uuid);
    });
    return made;
  }

  private onEvent(uuid: string, e: QmpEvent): void {
    const power = POWER_EVENTS[e.event];
    if (power === undefined) return;
    this.logger.info({ uuid, event: e.event }, "guest power changed");
    this.notify({ uuid, power });
  }

  /** QMP went away: QEMU exited (or is exiting), so report the state it left behind. */
  private async onConnectionLost(uuid: string): Promise<void> {
    if (this.watchers.size === 0 || this.destroying.has(uuid)) return;
    const files = guestFiles(this.options.stateDir, uuid);
    const pid = await livePid(files, uuid);
    if (pid !== undefined && !(await waitGone(pid, uuid, 5_000))) {
      void this.connection(uuid).catch(() => {}); // still running: keep watching it
      return;
    }
    this.notify(await this.status(uuid));
  }

  private notify(state: GuestState): void {
    if (this.destroying.has(state.uuid)) return;
    for (const watcher of this.watchers) watcher(state);
  }

  private async disconnect(uuid: string): Promise<void> {
    const held = this.connections.get(uuid);
    this.connections.delete(uuid);
    if (held) (await held.catch(() => undefined))?.close();
  }

  private async disconnectAll(): Promise<void> {
    await Promise.all([...this.connections.keys()].map((uuid) => this.disconnect(uuid)));
  }
}

/**
 * The executor process: it authenticates as an EXECUTOR account, registers this host as a
 * root provider (and keeps its inventory current), then long-polls LeaseTasks for the host,
 * publishing the consoles of its guests with every poll and running up to `maxBuilds` tasks
 * at once. It outlives control-plane restarts: calls that find the server away are retried
 * with backoff, and each outage is logged once.
 */
import { mkdir } from "node:fs/promises";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import {
  type ConsoleSnapshot,
  ExecutorService,
  type Task,
  TaskKind,
} from "../gen/mulligan/control/v1/control_pb.js";
import { ResourceService } from "../gen/mulligan/resource/v1/resource_pb.js";
import { type BackoffPolicy, backoffDelay, sleep } from "./backoff.js";
import { Conductor, NODE_TASK_KINDS } from "./conductor.js";
import { hostInventory, readHostSnapshot } from "./host-inventory.js";
import { type HostIdentity, loadHostUuid, registerHost } from "./host-registration.js";
import { ImageCache } from "./image-cache.js";
import {
  CONSOLE_TAIL_BYTES,
  type ExecutorOptions,
  LEASE_WAIT_SECONDS,
  REGISTRATION_INTERVAL_MS,
  type ResolvedExecutorOptions,
  resolveExecutorOptions,
} from "./options.js";
import { PowerReporter } from "./power-reporter.js";
import { ExecutorSession } from "./session.js";
import { runTask, type TaskReporter } from "./task-runner.js";

/** Slack over the server-side wait before a LeaseTasks call is given up as hung. */
const LEASE_CALL_SLACK_MS = 20_000;
/** Polling is cheap: after an outage, find the server again within a few seconds. */
const LEASE_BACKOFF: BackoffPolicy = { initialMs: 250, maxMs: 5_000 };

export class Executor {
  private readonly stopping = new AbortController();
  private readonly running = new Set<Promise<unknown>>();
  private readonly images: ImageCache;
  private readonly reporter: TaskReporter;
  private readonly log: Logger;
  private leasing: Promise<void> = Promise.resolve();
  private registrationTimer: NodeJS.Timeout | undefined;
  private registering: Promise<void> = Promise.resolve();
  /** Set when this executor is the conductor of a group of bare-metal nodes. */
  private conductor: Conductor | undefined;
  private readonly power: PowerReporter;
  private unwatchPower: () => void = () => {};

  private constructor(
    private readonly options: ResolvedExecutorOptions,
    private readonly session: ExecutorSession,
    /** This host's root provider. */
    readonly host: HostIdentity,
  ) {
    this.log = options.logger.child({ host: host.name });
    this.images = new ImageCache(options.stateDir);
    const tasks = session.authorized(ExecutorService);
    // A token that expired while the server was away is renewed, and the report sent again.
    this.reporter = {
      reportTask: async (request, callOptions) => {
        try {
          return await tasks.reportTask(request, callOptions);
        } catch (err) {
          if (ConnectError.from(err).code !== Code.Unauthenticated) throw err;
          await session.renewNow();
          return tasks.reportTask(request, callOptions);
        }
      },
    };
    this.power = new PowerReporter(
      host.uuid,
      async (report, signal) => {
        try {
          return await tasks.reportPowerState(report, { signal });
        } catch (err) {
          if (ConnectError.from(err).code !== Code.Unauthenticated) throw err;
          await session.renewNow();
          return tasks.reportPowerState(report, { signal });
        }
      },
      this.log,
      this.stopping.signal,
    );
  }

  /**
   * Authenticates, registers the host and starts leasing; resolves once leasing runs. Fails
   * when the server cannot be reached or refuses the account, the host or its inventory.
   */
  static async start(options: ExecutorOptions): Promise<Executor> {
    const resolved = resolveExecutorOptions(options);
    await mkdir(resolved.stateDir, { recursive: true });
    const host: HostIdentity = {
      uuid: await loadHostUuid(resolved.stateDir),
      name: resolved.hostName,
      region: resolved.region,
    };
    const session = await ExecutorSession.open(resolved);
    const executor = new Executor(resolved, session, host);
    try {
      await executor.register();
    } catch (err) {
      session.close();
      throw err;
    }
    if (resolved.conductor) {
      executor.conductor = await Conductor.start(
        resolved.conductor,
        resolved.stateDir,
        executor.log,
      );
      executor.log.info(
        { group: resolved.conductor.group, boot: executor.conductor.boot.publicUrl },
        "conducting bare-metal nodes",
      );
    }
    executor.log.info({ provider: host.uuid }, "host registered; leasing tasks");
    executor.scheduleRegistration();
    executor.watchPower();
    executor.leasing = executor.leaseLoop();
    return executor;
  }

  /** Stops leasing and waits for the running tasks to end; guests keep running. */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.unwatchPower();
    clearTimeout(this.registrationTimer);
    await this.leasing;
    await this.registering;
    await Promise.allSettled([...this.running]);
    await this.power.settled();
    await this.conductor?.close();
    this.session.close();
    this.log.info("executor stopped");
  }

  /**
   * Reports each power change the driver sees by itself (a guest's poweroff, a crashed QEMU),
   * and once the current power of every guest found on the host (adopted after a restart).
   */
  private watchPower(): void {
    const { driver } = this.options;
    this.unwatchPower = driver.watch((state) => this.power.report(state));
    driver.list().then(
      (guests) => {
        for (const g of guests) this.power.report(g);
      },
      (err: Error) => this.log.warn({ err: err.message }, "cannot list guests for power"),
    );
  }

  private reportPower(task: Task): void {
    this.options.driver.status(task.machineUuid).then(
      (state) => this.power.report(state),
      (err: Error) => this.log.warn({ machine: task.machineUuid, err: err.message }, "no power"),
    );
  }

  private async register(): Promise<void> {
    const snapshot = await readHostSnapshot(this.options.stateDir);
    const inventory = hostInventory(snapshot, this.options.inventoryPolicy);
    await registerHost(this.session.authorized(ResourceService), this.host, inventory);
  }

  /** Registers again every minute, so inventory follows the host (and a lost provider returns). */
  private scheduleRegistration(failures = 0): void {
    this.registrationTimer = setTimeout(() => {
      this.registering = this.register()
        .then(
          () => {
            if (failures > 0) this.log.info("host registration current again");
            return 0;
          },
          (err: unknown) => {
            if (failures === 0)
              this.log.warn(
                { err: ConnectError.from(err).message },
                "cannot refresh host inventory",
              );
            return failures + 1;
          },
        )
        .then((next) => {
          if (!this.stopping.signal.aborted) this.scheduleRegistration(next);
        });
    }, REGISTRATION_INTERVAL_MS);
    this.registrationTimer.unref();
  }

  private async leaseLoop(): Promise<void> {
    const tasks = this.session.authorized(ExecutorService);
    const signal = this.stopping.signal;
    let failures = 0;
    while (!signal.aborted) {
      const free = this.options.maxBuilds - this.running.size;
      if (free <= 0) {
        await Promise.race([...this.running, sleep(LEASE_WAIT_SECONDS * 1000, signal)]);
        continue;
      }
      try {
        const res = await tasks.leaseTasks(
          {
            hosts: [this.host.uuid],
            waitSeconds: LEASE_WAIT_SECONDS,
            maxTasks: free,
            consoles: await this.consoles(),
            conductorGroup: this.conductor?.group ?? "",
          },
          { signal, timeoutMs: LEASE_WAIT_SECONDS * 1000 + LEASE_CALL_SLACK_MS },
        );
        if (failures > 0) this.log.info("control plane reachable again");
        failures = 0;
        for (const task of res.tasks) this.run(task);
      } catch (err) {
        if (signal.aborted) break;
        const e = ConnectError.from(err);
        if (failures === 0)
          this.log.warn(
            { code: Code[e.code], err: e.rawMessage },
            "cannot lease tasks; retrying with backoff",
          );
        if (e.code === Code.Unauthenticated) await this.session.renewNow();
        await sleep(backoffDelay(failures, LEASE_BACKOFF), signal);
        failures += 1;
      }
    }
  }

  private run(task: Task): void {
    this.log.info(
      { task: task.uuid, kind: task.kind, machine: task.machineUuid, deliveries: task.deliveries },
      "task leased",
    );
    const conducted = this.conductor && NODE_TASK_KINDS.has(task.kind);
    const outcome = conducted
      ? (this.conductor as Conductor).run(task, this.reporter, this.images, this.log)
      : runTask(task, {
          driver: this.options.driver,
          images: this.images,
          reporter: this.reporter,
          logger: this.log,
          bootTimeoutMs: this.options.bootTimeoutMs,
        });
    const done = outcome.then(
      (outcome) => {
        this.log.info({ task: task.uuid, outcome }, "task ended");
        // A guest just built runs: its machine learns its first power state.
        if (outcome === "done" && task.kind === TaskKind.BUILD_VM) this.reportPower(task);
      },
      (err: Error) => this.log.error({ task: task.uuid, err: err.message }, "task crashed"),
    );
    this.running.add(done);
    void done.finally(() => this.running.delete(done));
  }

  /** The console tail of every running guest, published with each poll. */
  private async consoles(): Promise<Array<Pick<ConsoleSnapshot, "machineUuid" | "text">>> {
    const { driver } = this.options;
    try {
      const guests = (await driver.list()).filter((g) => g.power === "running");
      return await Promise.all(
        guests.map(async (g) => ({
          machineUuid: g.uuid,
          text: await driver.consoleLog(g.uuid, CONSOLE_TAIL_BYTES).catch(() => ""),
        })),
      );
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, "cannot read guest consoles");
      return [];
    }
  }
}

/**
 * The executor acting as conductor (Ironic's word) for the bare-metal nodes of one conductor
 * group: it serves the nodes' iPXE scripts, agent and images (BootServer), and runs their
 * tasks — leased through the same LeaseTasks/ReportTask machinery as VM builds — with the BMC
 * driver of each node (createBmcDriver). A task delivered again (this conductor or another was
 * restarted mid-step) is not resumed: the node is powered off and the step reported failed with
 * CONDUCTOR_RESTARTED, so the node lands in the step's failure state, never stuck — except the
 * tasks that only read the BMC (verify, the power sync), which simply run again.
 */
import { join } from "node:path";
import type { Logger } from "pino";
import { type Task, TaskKind } from "../gen/mulligan/control/v1/control_pb.js";
import { AgentError } from "./boot/agent-protocol.js";
import { BootServer, type BootServerOptions } from "./boot/boot-server.js";
import * as steps from "./conductor-steps.js";
import { type BmcEndpoint, BmcError } from "./drivers/bmc-driver.js";
import { createBmcDriver } from "./drivers/bmc-factory.js";
import { GuestError } from "./drivers/vm-driver.js";
import type { ImageCache } from "./image-cache.js";
import { TaskLease, type TaskReporter, type TaskResult } from "./task-lease.js";
import type { TaskOutcome } from "./task-runner.js";

/** How an executor acts as conductor (`mulligan executor --conductor-group …`). */
export interface ConductorOptions {
  /** The conductor group whose nodes' tasks this executor leases (nodes enrolled with it). */
  group: string;
  /** Where the boot server listens and what nodes are told to reach (see BootServerOptions). */
  boot?: BootServerOptions;
  /**
   * A directory holding `<node name>/serial.log` for nodes whose serial console this host can
   * read (the simulated fleet); the deploy then waits for the image's boot marker there.
   */
  serialLogDir?: string;
  timeouts?: Partial<steps.ConductorTimeouts>;
  /** Per BMC command (default 15 s) and retries (default 3) of the drivers. */
  bmcTimeoutMs?: number;
  bmcRetries?: number;
}

/** Defaults measured on TCG guests here: iPXE + agent boot takes 20–60 s. */
export const DEFAULT_CONDUCTOR_TIMEOUTS: steps.ConductorTimeouts = {
  agentBootMs: 300_000,
  commandMs: 600_000,
  osBootMs: 300_000,
};

/** Task kinds a conductor runs. */
export const NODE_TASK_KINDS: ReadonlySet<TaskKind> = new Set([
  TaskKind.VERIFY_NODE,
  TaskKind.INSPECT_NODE,
  TaskKind.CLEAN_NODE,
  TaskKind.DEPLOY_NODE,
  TaskKind.UNDEPLOY_NODE,
  TaskKind.SYNC_POWER,
]);

/** Node tasks that only read the BMC: a redelivery runs them again instead of failing them. */
const READS_ONLY: ReadonlySet<TaskKind> = new Set([TaskKind.VERIFY_NODE, TaskKind.SYNC_POWER]);

const RUN: Partial<Record<TaskKind, [string, (ctx: steps.StepContext) => Promise<void>]>> = {
  [TaskKind.VERIFY_NODE]: ["verify", steps.verify],
  [TaskKind.INSPECT_NODE]: ["inspect", steps.inspect],
  [TaskKind.CLEAN_NODE]: ["clean", steps.clean],
  [TaskKind.DEPLOY_NODE]: ["deploy", steps.deploy],
  [TaskKind.UNDEPLOY_NODE]: ["undeploy", steps.undeploy],
  [TaskKind.SYNC_POWER]: ["power-sync", steps.syncPower],
};

type Failure = Extract<TaskResult, { failure: unknown }>["failure"];

/** A node step's error as the node's failure: step and stable reason kept. */
export function nodeFailureOf(err: unknown, step: string): Failure {
  if (err instanceof BmcError)
    return { step, reason: err.reason, message: err.message, hostFault: true };
  if (err instanceof AgentError)
    return { step: err.step, reason: err.reason, message: err.message, hostFault: true };
  if (err instanceof GuestError)
    return { step: err.step, reason: err.reason, message: err.message, hostFault: err.hostFault };
  return {
    step,
    reason: "CONDUCTOR_ERROR",
    message: err instanceof Error ? err.message : String(err),
    hostFault: true,
  };
}

export class Conductor {
  private constructor(
    readonly group: string,
    /** The boot server the nodes of this group netboot from. */
    readonly boot: BootServer,
    private readonly options: ConductorOptions,
    private readonly workDir: string,
    private readonly timeouts: steps.ConductorTimeouts,
  ) {}

  /** Starts the boot server. */
  static async start(options: ConductorOptions, stateDir: string, logger: Logger) {
    const boot = await BootServer.start({ ...options.boot, logger });
    const timeouts = { ...DEFAULT_CONDUCTOR_TIMEOUTS, ...options.timeouts };
    return new Conductor(options.group, boot, options, join(stateDir, "conductor"), timeouts);
  }

  async close(): Promise<void> {
    await this.boot.close();
  }

  /** Runs one node task to its end; never throws. */
  async run(
    task: Task,
    reporter: TaskReporter,
    images: ImageCache,
    logger: Logger,
  ): Promise<TaskOutcome> {
    const lease = new TaskLease(task, reporter, logger);
    const node = task.node;
    const [step, work] = RUN[task.kind] ?? ["task", undefined];
    const log = logger.child({ task: task.uuid, node: node?.nodeName });
    if (!node?.bmc || !work) {
      await lease.finish({
        failure: {
          step,
          reason: "TASK_INVALID",
          message: "a node task without its node",
          hostFault: false,
        },
        console: "",
      });
      lease.close();
      return "failed";
    }
    const bmc = createBmcDriver(endpointOf(node.bmc), {
      logger: log,
      ...(this.options.bmcTimeoutMs ? { timeoutMs: this.options.bmcTimeoutMs } : {}),
      ...(this.options.bmcRetries !== undefined ? { retries: this.options.bmcRetries } : {}),
    });
    try {
      if (task.deliveries > 1 && !READS_ONLY.has(task.kind)) {
        // Interrupted by a restart: the node's state is unknown; leave it off and say so.
        log.warn({ deliveries: task.deliveries }, "node step interrupted by a restart; failing it");
        await bmc.setPower("off", lease.signal).catch(() => undefined);
        this.boot.setNodeBoot(node.bootMacs, undefined);
        await lease.finish({
          failure: {
            step,
            reason: "CONDUCTOR_RESTARTED",
            message: `the conductor restarted during ${step}; the node was powered off`,
            hostFault: true,
          },
          console: "",
        });
        return lease.lost ? "lease-lost" : "failed";
      }
      const serialLog = this.options.serialLogDir
        ? join(this.options.serialLogDir, node.nodeName, "serial.log")
        : undefined;
      try {
        await work({
          node,
          bmc,
          boot: this.boot,
          images,
          lease,
          log,
          timeouts: this.timeouts,
          workDir: this.workDir,
          serialLog,
        });
      } catch (err) {
        if (lease.lost) return "lease-lost";
        const failure = lease.cancelled
          ? {
              step,
              reason: "TASK_CANCELLED",
              message: "the node no longer wants this step",
              hostFault: false,
            }
          : nodeFailureOf(err, step);
        log.warn(
          { step: failure.step, reason: failure.reason, err: failure.message },
          "node step failed",
        );
        await lease.finish({ failure, console: "" });
        return lease.cancelled ? "cancelled" : lease.lost ? "lease-lost" : "failed";
      }
      await lease.finish({ done: true, console: "" });
      return lease.lost ? "lease-lost" : lease.cancelled ? "cancelled" : "done";
    } finally {
      lease.close();
      await bmc.close().catch(() => undefined);
    }
  }
}

/** The driver's endpoint from a task's BMC (the password stays in memory only). */
function endpointOf(b: NonNullable<NonNullable<Task["node"]>["bmc"]>): BmcEndpoint {
  return {
    driver: b.driver === 2 ? "redfish" : "ipmi",
    address: b.address,
    port: b.port,
    username: b.username,
    password: b.password,
    verifyTls: !b.skipTlsVerify,
    scheme: b.scheme === "http" ? "http" : "https",
    cipherSuite: b.cipherSuite || 3,
    ...(b.systemPath ? { systemPath: b.systemPath } : {}),
  };
}

/**
 * Runs one leased task against the VM driver and reports how it went. BUILD_VM: image (fetch
 * and verify) → driver.create (its steps forwarded as progress) → done with the console tail.
 * DESTROY_VM: driver.destroy → done. A failure is reported with its step and stable reason; a
 * build that fails or is cancelled leaves no guest behind. Every handler is idempotent: a task
 * delivered again adopts the guest or finds it gone.
 */
import type { Logger } from "pino";
import { type Task, TaskKind } from "../gen/mulligan/control/v1/control_pb.js";
import type { BackoffPolicy } from "./backoff.js";
import { GuestError, type GuestSpec, type VmDriver } from "./drivers/vm-driver.js";
import { IMAGE_STEP, type ImageCache } from "./image-cache.js";
import { CONSOLE_TAIL_BYTES } from "./options.js";
import { TaskLease, type TaskReporter, type TaskResult } from "./task-lease.js";

/** The plug point to the control plane, defined beside the lease that uses it. */
export type { TaskReporter };

/** What running a task needs. */
export interface TaskRunnerOptions {
  driver: VmDriver;
  images: ImageCache;
  reporter: TaskReporter;
  logger: Logger;
  bootTimeoutMs: number;
  /** Pauses between report retries (tests shorten them). */
  backoff?: BackoffPolicy;
}

/** How a task ended on this executor, for the log and for tests. */
export type TaskOutcome = "done" | "failed" | "cancelled" | "lease-lost";

/** The step DESTROY_VM reports under. */
const TEARDOWN_STEP = "teardown";

/** Runs `task` to its end; never throws (every failure is reported or logged). */
export async function runTask(task: Task, options: TaskRunnerOptions): Promise<TaskOutcome> {
  const lease = new TaskLease(task, options.reporter, options.logger, options.backoff);
  const log = options.logger.child({ task: task.uuid, machine: task.machineUuid });
  try {
    if (task.kind === TaskKind.BUILD_VM) return await buildVm(task, lease, options, log);
    if (task.kind === TaskKind.DESTROY_VM) return await destroyVm(task, lease, options);
    return await fail(lease, {
      step: "task",
      reason: "TASK_KIND_UNSUPPORTED",
      message: `this executor does not run ${TaskKind[task.kind] ?? task.kind} tasks`,
      hostFault: true,
    });
  } finally {
    lease.close();
  }
}

async function buildVm(
  task: Task,
  lease: TaskLease,
  options: TaskRunnerOptions,
  log: Logger,
): Promise<TaskOutcome> {
  const { driver } = options;
  const guest = task.guest;
  const uuid = guest?.machineUuid || task.machineUuid;
  if (!guest?.image)
    return fail(lease, {
      step: IMAGE_STEP,
      reason: "TASK_INVALID",
      message: "BUILD_VM task without a guest image",
      hostFault: false,
    });
  const image = guest.image;
  try {
    void lease.progress(IMAGE_STEP, `preparing image ${image.name}`);
    const prepared = await options.images.prepare(image, lease.signal, (message) => {
      void lease.progress(IMAGE_STEP, message);
    });
    const spec: GuestSpec = {
      uuid,
      hostname: guest.hostname,
      vcpus: guest.vcpus,
      memoryMb: Number(guest.memoryMb),
      diskGb: Number(guest.diskGb),
      image: prepared,
      sshKeys: guest.sshKeys,
      userData: guest.userData,
      bootMarker: image.bootMarker,
    };
    await driver.create(spec, {
      bootTimeoutMs: options.bootTimeoutMs,
      signal: lease.signal,
      onProgress: (p) => void lease.progress(p.step, p.message),
    });
    if (!lease.cancelled && !lease.lost) {
      await lease.finish({ done: true, console: await tail(driver, uuid) });
      // The machine may have been decommissioned while the result was on its way.
      if (!lease.cancelled) return lease.lost ? "lease-lost" : "done";
    }
  } catch (err) {
    if (!lease.cancelled && !lease.lost) {
      const console = await tail(driver, uuid);
      // The allocation goes back (or moves to another host): free what the guest holds here.
      await destroyQuietly(driver, uuid, log);
      await lease.finish({ failure: failureOf(err), console });
      if (lease.lost) return "lease-lost";
      return "failed";
    }
  }
  if (lease.lost) {
    // Another delivery owns the task now; it adopts or replaces whatever is here.
    log.info("lease lost; build stopped");
    return "lease-lost";
  }
  log.info("task cancelled by the control plane; removing the guest");
  await destroyQuietly(driver, uuid, log);
  await lease.finish({
    failure: {
      step: "cancel",
      reason: "TASK_CANCELLED",
      message: "the machine no longer wants this build",
      hostFault: false,
    },
    console: "",
  });
  return "cancelled";
}

async function destroyVm(
  task: Task,
  lease: TaskLease,
  options: TaskRunnerOptions,
): Promise<TaskOutcome> {
  void lease.progress(TEARDOWN_STEP, "stopping the guest and deleting its disks");
  try {
    await options.driver.destroy(task.machineUuid);
  } catch (err) {
    return fail(lease, failureOf(err, TEARDOWN_STEP));
  }
  await lease.finish({ done: true, console: "" });
  return lease.lost ? "lease-lost" : "done";
}

async function fail(
  lease: TaskLease,
  failure: Extract<TaskResult, { failure: unknown }>["failure"],
): Promise<TaskOutcome> {
  await lease.finish({ failure, console: "" });
  return lease.lost ? "lease-lost" : "failed";
}

/** A GuestError keeps its step and reason; anything else is the executor's own fault. */
export function failureOf(
  err: unknown,
  step = "build",
): Extract<TaskResult, { failure: unknown }>["failure"] {
  if (err instanceof GuestError)
    return { step: err.step, reason: err.reason, message: err.message, hostFault: err.hostFault };
  return {
    step,
    reason: "EXECUTOR_ERROR",
    message: err instanceof Error ? err.message : String(err),
    hostFault: true,
  };
}

/** The console tail, or "" when the guest has none (never built, already gone). */
async function tail(driver: VmDriver, uuid: string): Promise<string> {
  try {
    return await driver.consoleLog(uuid, CONSOLE_TAIL_BYTES);
  } catch {
    return "";
  }
}

async function destroyQuietly(driver: VmDriver, uuid: string, log: Logger): Promise<void> {
  try {
    await driver.destroy(uuid);
  } catch (err) {
    log.error({ err: (err as Error).message }, "cannot remove the guest");
  }
}

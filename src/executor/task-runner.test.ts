/**
 * One task through the runner, against a fake VM driver and a fake ExecutorService
 * (TaskReporter): progress forwarding, lease renewal, the mapping of failures, cancel → the
 * guest is removed, retries while the control plane is unreachable, and a lost lease.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import pino from "pino";
import {
  ImageFormat,
  type ReportTaskRequestSchema,
  type ReportTaskResponse,
  ReportTaskResponseSchema,
  type Task,
  TaskKind,
  TaskSchema,
} from "../gen/mulligan/control/v1/control_pb.js";
import {
  GuestError,
  type GuestProgress,
  type GuestSpec,
  type GuestState,
  type VmDriver,
} from "./drivers/vm-driver.js";
import { ImageCache } from "./image-cache.js";
import { failureOf, runTask, type TaskReporter, type TaskRunnerOptions } from "./task-runner.js";

const MACHINE = "01a201a2-8020-7b94-8ac1-27df49d2d2e7";
const IMAGE = Buffer.from("pretend qcow2\n");
const IMAGE_SHA = createHash("sha256").update(IMAGE).digest("hex");
const logger = pino({ level: "silent" });

let dir: string;
let imagePath: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "mulligan-runner-"));
  imagePath = join(dir, "disk.qcow2");
  await writeFile(imagePath, IMAGE);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Report = MessageInitShape<typeof ReportTaskRequestSchema>;

/** Records every report; `answer` decides each one (default: accepted, not cancelled). */
class FakeReporter implements TaskReporter {
  readonly reports: Report[] = [];
  answer: (report: Report, index: number) => Partial<ReportTaskResponse> | Error = () => ({});

  async reportTask(request: Report): Promise<ReportTaskResponse> {
    const index = this.reports.push(structuredClone(request)) - 1;
    const answer = this.answer(request, index);
    if (answer instanceof Error) throw answer;
    return create(ReportTaskResponseSchema, { cancelled: answer.cancelled ?? false });
  }

  /** Reports as "step: message", results as "done" or "failed REASON". */
  get steps(): string[] {
    return this.reports.map((r) => {
      if (r.result?.case === "done") return "done";
      if (r.result?.case === "failure") return `failed ${r.result.value.reason}`;
      return `${r.step ?? ""}: ${r.message ?? ""}`;
    });
  }
}

/** A VM driver that plays `build` for create and records what it was asked. */
class FakeDriver implements VmDriver {
  readonly created: GuestSpec[] = [];
  readonly destroyed: string[] = [];
  destroyError: Error | undefined;
  build: (
    spec: GuestSpec,
    progress: (p: GuestProgress) => void,
    signal: AbortSignal,
  ) => Promise<void> = async (_spec, progress) => {
    for (const step of ["disk", "config-drive", "start", "boot"])
      progress({ step, message: `${step} ok` });
  };

  async create(
    spec: GuestSpec,
    options: {
      bootTimeoutMs: number;
      signal?: AbortSignal;
      onProgress?: (p: GuestProgress) => void;
    },
  ): Promise<GuestState> {
    this.created.push(spec);
    await this.build(spec, (p) => options.onProgress?.(p), options.signal ?? new AbortSignal());
    return { uuid: spec.uuid, power: "running", pid: 4242 };
  }
  async destroy(uuid: string): Promise<void> {
    this.destroyed.push(uuid);
    if (this.destroyError) throw this.destroyError;
  }
  async status(uuid: string): Promise<GuestState> {
    return { uuid, power: "running" };
  }
  async consoleLog(uuid: string): Promise<string> {
    return `console of ${uuid}\nlogin:`;
  }
  async list(): Promise<GuestState[]> {
    return [];
  }
  watch(): () => void {
    return () => {};
  }
  async close(): Promise<void> {}
}

/** Waits until the signal aborts, then rejects as a driver would. */
function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((_resolve, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

function buildTask(sha256 = IMAGE_SHA, leaseMs = 3_000): Task {
  return create(TaskSchema, {
    uuid: "task-1",
    kind: TaskKind.BUILD_VM,
    machineUuid: MACHINE,
    hostUuid: "host-1",
    leaseToken: "lease-1",
    leaseExpireTime: timestampFromMs(Date.now() + leaseMs),
    deliveries: 1,
    guest: {
      machineUuid: MACHINE,
      hostname: "web-1",
      vcpus: 2,
      memoryMb: 1024n,
      diskGb: 10n,
      sshKeys: ["ssh-ed25519 AAAA test"],
      userData: "#cloud-config\n",
      image: {
        name: "debian",
        bootMarker: "login:",
        source: {
          case: "disk",
          value: { source: imagePath, format: ImageFormat.QCOW2, sha256 },
        },
      },
    },
  });
}

function setup(): { driver: FakeDriver; reporter: FakeReporter; options: TaskRunnerOptions } {
  const driver = new FakeDriver();
  const reporter = new FakeReporter();
  return {
    driver,
    reporter,
    options: {
      driver,
      reporter,
      images: new ImageCache(dir),
      logger,
      bootTimeoutMs: 5_000,
      backoff: { initialMs: 5, maxMs: 20 },
    },
  };
}

const unavailable = () => new ConnectError("connection refused", Code.Unavailable);

test("a build forwards every step, then reports done with the console tail", async () => {
  const { driver, reporter, options } = setup();
  assert.equal(await runTask(buildTask(), options), "done");
  assert.deepEqual(reporter.steps, [
    "image: preparing image debian",
    `image: verifying ${imagePath}`,
    "disk: disk ok",
    "config-drive: config-drive ok",
    "start: start ok",
    "boot: boot ok",
    "done",
  ]);
  for (const r of reporter.reports) {
    assert.equal(r.taskUuid, "task-1");
    assert.equal(r.leaseToken, "lease-1");
  }
  assert.equal(reporter.reports.at(-1)?.console, `console of ${MACHINE}\nlogin:`);
  assert.deepEqual(driver.created, [
    {
      uuid: MACHINE,
      hostname: "web-1",
      vcpus: 2,
      memoryMb: 1024,
      diskGb: 10,
      image: { kind: "disk", path: imagePath, format: "qcow2" },
      sshKeys: ["ssh-ed25519 AAAA test"],
      userData: "#cloud-config\n",
      bootMarker: "login:",
    },
  ]);
  assert.deepEqual(driver.destroyed, []);
});

test("a silent build still renews its lease every third of it", async () => {
  const { driver, reporter, options } = setup();
  driver.build = () => new Promise((resolve) => setTimeout(resolve, 1_300));
  assert.equal(await runTask(buildTask(), options), "done");
  const renewals = reporter.reports.filter((r) => !r.step && r.result === undefined);
  assert.ok(renewals.length >= 1, `no renewal in ${reporter.steps.join(" | ")}`);
});

test("a GuestError is reported with its step, reason and fault; the guest is removed", async () => {
  const { driver, reporter, options } = setup();
  driver.build = async (_spec, progress) => {
    progress({ step: "start", message: "starting" });
    throw new GuestError("boot", "BOOT_TIMEOUT", "no login: within 5 s", true);
  };
  assert.equal(await runTask(buildTask(), options), "failed");
  const last = reporter.reports.at(-1);
  assert.equal(last?.result?.case, "failure");
  assert.deepEqual(last?.result?.value, {
    step: "boot",
    reason: "BOOT_TIMEOUT",
    message: "no login: within 5 s",
    hostFault: true,
  });
  assert.equal(last?.console, `console of ${MACHINE}\nlogin:`);
  assert.deepEqual(driver.destroyed, [MACHINE]);
});

test("an image that does not verify fails the image step before any guest exists", async () => {
  const { driver, reporter, options } = setup();
  assert.equal(await runTask(buildTask("0".repeat(64)), options), "failed");
  const failure = reporter.reports.at(-1)?.result;
  assert.equal(failure?.case, "failure");
  assert.ok(failure?.case === "failure");
  assert.equal(failure.value.step, "image");
  assert.equal(failure.value.reason, "IMAGE_CHECKSUM_MISMATCH");
  assert.equal(failure.value.hostFault, false);
  assert.deepEqual(driver.created, []);
});

for (const [name, err, step, expected] of [
  [
    "a GuestError keeps its own facts",
    new GuestError("disk", "DISK_CREATE_FAILED", "qemu-img failed", false),
    "build",
    { step: "disk", reason: "DISK_CREATE_FAILED", message: "qemu-img failed", hostFault: false },
  ],
  [
    "any other Error is the executor's fault",
    new Error("EACCES: permission denied"),
    "build",
    {
      step: "build",
      reason: "EXECUTOR_ERROR",
      message: "EACCES: permission denied",
      hostFault: true,
    },
  ],
  [
    "a thrown non-Error too, under the given step",
    "boom",
    "teardown",
    { step: "teardown", reason: "EXECUTOR_ERROR", message: "boom", hostFault: true },
  ],
] as const)
  test(`failureOf: ${name}`, () => {
    assert.deepEqual(failureOf(err, step), expected);
  });

test("an unexpected driver error is EXECUTOR_ERROR with host fault", async () => {
  const { driver, reporter, options } = setup();
  driver.build = async () => {
    throw new TypeError("cannot read properties of undefined");
  };
  assert.equal(await runTask(buildTask(), options), "failed");
  const failure = reporter.reports.at(-1)?.result;
  assert.ok(failure?.case === "failure");
  assert.equal(failure.value.reason, "EXECUTOR_ERROR");
  assert.equal(failure.value.hostFault, true);
});

test("cancelled in the middle: the build is aborted and the guest destroyed", async () => {
  const { driver, reporter, options } = setup();
  let sawAbort = false;
  driver.build = async (_spec, progress, signal) => {
    progress({ step: "start", message: "starting" });
    await untilAborted(signal).catch((err) => {
      sawAbort = true;
      throw err;
    });
  };
  reporter.answer = (r) => ({ cancelled: r.step === "start" });
  assert.equal(await runTask(buildTask(), options), "cancelled");
  assert.ok(sawAbort);
  assert.deepEqual(driver.destroyed, [MACHINE]);
  assert.equal(reporter.steps.at(-1), "failed TASK_CANCELLED");
});

test("cancelled on the done report: the finished guest is destroyed", async () => {
  const { driver, reporter, options } = setup();
  reporter.answer = (r) => ({ cancelled: r.result?.case === "done" });
  assert.equal(await runTask(buildTask(), options), "cancelled");
  assert.deepEqual(driver.destroyed, [MACHINE]);
  // The result was already reported: no second one.
  assert.equal(reporter.steps.filter((s) => s === "done" || s.startsWith("failed")).length, 1);
});

test("reports are retried while the control plane is unavailable", async () => {
  const { reporter, options } = setup();
  const refusals = new Map<string, number>();
  reporter.answer = (r) => {
    const key = r.result?.case ?? r.step ?? "";
    if (key !== "disk" && key !== "done") return {};
    refusals.set(key, (refusals.get(key) ?? 0) + 1);
    return (refusals.get(key) ?? 0) <= 2 ? unavailable() : {};
  };
  assert.equal(await runTask(buildTask(), options), "done");
  const steps = reporter.steps;
  assert.equal(steps.filter((s) => s === "disk: disk ok").length, 3);
  assert.equal(steps.filter((s) => s === "done").length, 3);
  // Order is kept: nothing overtakes a report being retried.
  assert.deepEqual([...new Set(steps)].slice(2), [
    "disk: disk ok",
    "config-drive: config-drive ok",
    "start: start ok",
    "boot: boot ok",
    "done",
  ]);
});

test("unreachable for the whole lease: the work stops without a result", async () => {
  const { driver, reporter, options } = setup();
  driver.build = (_spec, _progress, signal) => untilAborted(signal);
  reporter.answer = () => unavailable();
  const started = Date.now();
  assert.equal(await runTask(buildTask(IMAGE_SHA, 3_000), options), "lease-lost");
  assert.ok(Date.now() - started >= 2_500, "gave up before the lease ran out");
  assert.deepEqual(driver.destroyed, []);
});

for (const code of [Code.FailedPrecondition, Code.NotFound])
  test(`a lease refused with ${Code[code]} stops the build quietly`, async () => {
    const { driver, reporter, options } = setup();
    driver.build = async (_spec, progress, signal) => {
      progress({ step: "disk", message: "creating" });
      await untilAborted(signal);
    };
    reporter.answer = (r) =>
      r.step === "disk" ? new ConnectError("lease expired", code) : ({} as const);
    assert.equal(await runTask(buildTask(), options), "lease-lost");
    assert.equal(
      reporter.reports.some((r) => r.result !== undefined),
      false,
    );
    // Another delivery owns the task now: whatever exists here is left for it to adopt.
    assert.deepEqual(driver.destroyed, []);
  });

function destroyTask(): Task {
  return create(TaskSchema, {
    uuid: "task-2",
    kind: TaskKind.DESTROY_VM,
    machineUuid: MACHINE,
    leaseToken: "lease-2",
    leaseExpireTime: timestampFromMs(Date.now() + 30_000),
  });
}

test("DESTROY_VM destroys the guest and reports done", async () => {
  const { driver, reporter, options } = setup();
  assert.equal(await runTask(destroyTask(), options), "done");
  assert.deepEqual(driver.destroyed, [MACHINE]);
  assert.deepEqual(reporter.steps, ["teardown: stopping the guest and deleting its disks", "done"]);
});

test("DESTROY_VM that fails reports the driver's reason", async () => {
  const { driver, reporter, options } = setup();
  driver.destroyError = new Error("kill: operation not permitted");
  assert.equal(await runTask(destroyTask(), options), "failed");
  const failure = reporter.reports.at(-1)?.result;
  assert.ok(failure?.case === "failure");
  assert.deepEqual(
    { ...failure.value },
    {
      step: "teardown",
      reason: "EXECUTOR_ERROR",
      message: "kill: operation not permitted",
      hostFault: true,
    },
  );
});

test("a task kind this executor does not know is refused as the host's fault", async () => {
  const { reporter, options } = setup();
  const task = create(TaskSchema, { ...destroyTask(), kind: TaskKind.UNSPECIFIED });
  assert.equal(await runTask(task, options), "failed");
  assert.equal(reporter.steps.at(-1), "failed TASK_KIND_UNSUPPORTED");
});

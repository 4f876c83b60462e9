/**
 * The executor's side of one task's lease: reports go out one at a time and in order, the
 * lease is renewed every third of its length even when the work is silent, and a report is
 * retried while the server is unreachable until the lease would have run out. The lease ends
 * in one of two ways the work must react to: the server says the machine no longer wants the
 * task (`cancelled`), or the lease is gone (refused, or unreachable for too long: `lost`).
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { type CallOptions, Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import type {
  ReportTaskRequestSchema,
  ReportTaskResponse,
  Task,
  TaskFailure,
} from "../gen/mulligan/control/v1/control_pb.js";
import { type BackoffPolicy, backoffDelay, DEFAULT_BACKOFF, sleep } from "./backoff.js";

/**
 * The one ExecutorService call a running task makes: the plug point between a task and the
 * control plane (the generated client in production, a fake in tests).
 */
export interface TaskReporter {
  reportTask(
    request: MessageInitShape<typeof ReportTaskRequestSchema>,
    options?: CallOptions,
  ): Promise<ReportTaskResponse>;
}

/** The final result of a task, as ReportTask carries it. */
export type TaskResult =
  | { done: true; console: string }
  | { failure: Omit<TaskFailure, "$typeName" | "$unknown">; console: string };

/** The longest message ReportTask takes (progress and failure alike). */
const MAX_MESSAGE_CHARS = 4096;

/** Leases shorter than this (or a clock far off) are treated as this long. */
const MIN_LEASE_MS = 3_000;

export class TaskLease {
  /** Aborted when the work must stop: cancelled by the server or lease lost. */
  readonly signal: AbortSignal;
  private readonly stop = new AbortController();
  private readonly leaseMs: number;
  private renewedAt = Date.now();
  private queue: Promise<unknown> = Promise.resolve();
  private pending = 0;
  private heartbeat: NodeJS.Timeout;
  private state: "held" | "cancelled" | "lost" = "held";
  private finished = false;

  constructor(
    private readonly task: Task,
    private readonly reporter: TaskReporter,
    private readonly logger: Logger,
    private readonly backoff: BackoffPolicy = DEFAULT_BACKOFF,
  ) {
    this.signal = this.stop.signal;
    const expires = task.leaseExpireTime ? Number(task.leaseExpireTime.seconds) * 1000 : 0;
    this.leaseMs = Math.max(MIN_LEASE_MS, expires - Date.now());
    // A report with no step renews the lease and adds nothing to the machine's history.
    this.heartbeat = setInterval(() => {
      if (this.pending === 0) void this.enqueue({});
    }, this.leaseMs / 3);
    this.heartbeat.unref();
  }

  /** The server no longer wants the task (the machine was decommissioned meanwhile). */
  get cancelled(): boolean {
    return this.state === "cancelled";
  }

  /** The lease is gone: another delivery may run the task, so this one must stay quiet. */
  get lost(): boolean {
    return this.state === "lost";
  }

  /**
   * Reports a progress step (queued behind earlier reports; never throws); a conductor adds
   * the node's power state or inventory.
   */
  progress(
    step: string,
    message: string,
    node: Pick<MessageInitShape<typeof ReportTaskRequestSchema>, "inventory" | "powerState"> = {},
  ): Promise<void> {
    return this.enqueue({ step, message: clip(message), ...node });
  }

  /** Reports the result after every earlier report and stops renewing; only the first counts. */
  async finish(result: TaskResult): Promise<void> {
    clearInterval(this.heartbeat);
    if (this.finished) return;
    this.finished = true;
    await this.enqueue(
      "done" in result
        ? { result: { case: "done", value: true }, console: result.console }
        : {
            result: {
              case: "failure",
              value: { ...result.failure, message: clip(result.failure.message) },
            },
            console: result.console,
          },
      true,
    );
  }

  /** Stops renewing without a result (the lease was lost or the task gave up). */
  close(): void {
    clearInterval(this.heartbeat);
  }

  private enqueue(
    fields: Pick<
      MessageInitShape<typeof ReportTaskRequestSchema>,
      "step" | "message" | "result" | "console" | "inventory" | "powerState"
    >,
    final = false,
  ): Promise<void> {
    this.pending += 1;
    // Stamped now: the step's event keeps the time it happened, however long the queue takes.
    const request = {
      ...fields,
      taskUuid: this.task.uuid,
      leaseToken: this.task.leaseToken,
      stepTime: timestampNow(),
    };
    const sent = this.queue.then(() => this.send(request, final));
    this.queue = sent.finally(() => {
      this.pending -= 1;
    });
    return this.queue.then(() => undefined);
  }

  private async send(
    request: MessageInitShape<typeof ReportTaskRequestSchema>,
    final: boolean,
  ): Promise<void> {
    // After a cancel only the final report still goes out (it closes the task on the server).
    if (this.state === "lost" || (this.state === "cancelled" && !final)) return;
    const timeoutMs = Math.max(1_000, Math.floor(this.leaseMs / 3));
    let outage = false;
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.reporter.reportTask(request, { timeoutMs });
        this.renewedAt = Date.now();
        if (outage) this.logger.info({ task: this.task.uuid }, "control plane reachable again");
        if (res.cancelled && this.state === "held") this.end("cancelled");
        return;
      } catch (err) {
        const e = ConnectError.from(err);
        if (e.code === Code.FailedPrecondition || e.code === Code.NotFound) {
          this.logger.info({ task: this.task.uuid, reason: e.rawMessage }, "lease lost");
          this.end("lost");
          return;
        }
        if (e.code !== Code.Unavailable && e.code !== Code.DeadlineExceeded) {
          this.logger.error(
            { task: this.task.uuid, code: Code[e.code], err: e.rawMessage },
            "report refused; giving the task up",
          );
          this.end("lost");
          return;
        }
        const delay = backoffDelay(attempt, this.backoff);
        if (Date.now() + delay > this.renewedAt + this.leaseMs) {
          this.logger.warn({ task: this.task.uuid }, "control plane unreachable for the lease");
          this.end("lost");
          return;
        }
        if (!outage)
          this.logger.warn(
            { task: this.task.uuid, err: e.rawMessage },
            "control plane unreachable; retrying the report",
          );
        outage = true;
        await sleep(delay);
      }
    }
  }

  private end(state: "cancelled" | "lost"): void {
    this.state = state;
    if (state === "lost") clearInterval(this.heartbeat);
    this.stop.abort(new Error(`task ${this.task.uuid} ${state}`));
  }
}

function clip(message: string): string {
  return message.length <= MAX_MESSAGE_CHARS
    ? message
    : `${message.slice(0, MAX_MESSAGE_CHARS - 1)}…`;
}

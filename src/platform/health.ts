/**
 * `grpc.health.v1.Health`: the serving status of the process ("") and of each hosted service.
 * Status follows the store: SERVING while it answers a ping (checked every few seconds),
 * NOT_SERVING when it does not, and NOT_SERVING for good once shutdown begins, so load
 * balancers stop routing here before the listener closes.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import type { Logger } from "pino";
import {
  Health,
  type HealthCheckResponse,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as Status,
} from "../gen/health/v1/health_pb.js";
import type { Store } from "../store/store.js";
import type { BuiltinService } from "./builtin-service.js";

/** How often the store is pinged, and how long a ping may take before it counts as failed. */
export const HEALTH_INTERVAL_MS = 2000;
const PING_TIMEOUT_MS = 1500;

/** The serving status of every name; notifies watchers of each change. */
export class HealthMonitor {
  private status: Status = Status.NOT_SERVING;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly store: Store,
    /** "" (the whole process) is always known; these are the served service names besides it. */
    private readonly names: () => readonly string[],
    private readonly logger: Logger,
    private readonly intervalMs = HEALTH_INTERVAL_MS,
  ) {}

  /** Marks everything SERVING and starts watching the store. */
  start(): void {
    this.set(Status.SERVING);
    this.timer = setInterval(() => void this.probe(), this.intervalMs);
    this.timer.unref();
  }

  /** NOT_SERVING from now on; open Watch streams receive it and end. */
  shutdown(): void {
    clearInterval(this.timer);
    this.set(Status.NOT_SERVING);
    this.closed = true;
    this.notify();
  }

  /** The status of a name, or undefined if this process does not serve it. */
  statusOf(name: string): Status | undefined {
    return name === "" || this.names().includes(name) ? this.status : undefined;
  }

  /** Every known name with its status. */
  all(): Map<string, Status> {
    return new Map(["", ...this.names()].map((n) => [n, this.status]));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Resolves at the next change of status, at shutdown, or when `signal` aborts. */
  changed(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.waiters.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.waiters.add(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  private async probe(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.store.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error("store ping timed out")), PING_TIMEOUT_MS);
        }),
      ]);
      if (!this.closed) this.set(Status.SERVING);
    } catch (err) {
      if (this.status === Status.SERVING)
        this.logger.warn({ err: (err as Error).message }, "store unreachable: NOT_SERVING");
      this.set(Status.NOT_SERVING);
    } finally {
      clearTimeout(timer);
    }
  }

  private set(status: Status): void {
    if (this.closed || status === this.status) return;
    this.status = status;
    this.notify();
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}

function response(status: Status): HealthCheckResponse {
  return create(HealthCheckResponseSchema, { status });
}

/** The Health service over a monitor; public, as probes carry no token. */
export function healthService(monitor: HealthMonitor): BuiltinService {
  return {
    desc: Health,
    policy: { Check: "public", Watch: "public", List: "public" },
    register(router: ConnectRouter) {
      router.service(Health, {
        check(req) {
          const status = monitor.statusOf(req.service);
          if (status === undefined)
            throw new ConnectError(`unknown service "${req.service}"`, Code.NotFound);
          return response(status);
        },
        async *watch(req, ctx) {
          let sent: Status | undefined;
          while (!ctx.signal.aborted) {
            const status = monitor.statusOf(req.service) ?? Status.SERVICE_UNKNOWN;
            if (status !== sent) {
              yield response(status);
              sent = status;
            }
            if (monitor.isClosed) return;
            await monitor.changed(ctx.signal);
          }
        },
        list() {
          const statuses: Record<string, HealthCheckResponse> = {};
          for (const [name, status] of monitor.all()) statuses[name] = response(status);
          return { statuses };
        },
      });
    },
  };
}

/**
 * Reports guests' power changes to control (ExecutorService.ReportPowerState). A change the
 * driver sees while the server is away is kept and sent again with backoff until it lands; a
 * newer change of the same guest replaces an unsent older one (only the latest power matters,
 * and control orders reports by observation time anyway). A report control refuses for good
 * (a guest that is no machine of this host) is dropped with a log line.
 */
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import { GuestPowerState } from "../gen/mulligan/control/v1/control_pb.js";
import { newUuid } from "../platform/ids.js";
import { type BackoffPolicy, backoffDelay, sleep } from "./backoff.js";
import type { GuestPower, GuestState } from "./drivers/vm-driver.js";

/** A power report as sent; `requestId` stays the same across retries of one observation. */
export interface PowerReport {
  requestId: string;
  host: string;
  machineUuid: string;
  powerState: GuestPowerState;
  observedTime: ReturnType<typeof timestampFromDate>;
}

/** The one call this needs, so the executor can renew its token around it. */
export type PowerSender = (report: PowerReport, signal: AbortSignal) => Promise<unknown>;

const POWER: Readonly<Record<GuestPower, GuestPowerState>> = {
  running: GuestPowerState.RUNNING,
  stopped: GuestPowerState.STOPPED,
  absent: GuestPowerState.ABSENT,
};

/** Errors no retry can fix: the report is dropped. */
const FINAL = new Set([Code.NotFound, Code.InvalidArgument, Code.PermissionDenied]);

const REPORT_BACKOFF: BackoffPolicy = { initialMs: 250, maxMs: 10_000 };

export class PowerReporter {
  /** The latest unsent observation of each guest. */
  private readonly pending = new Map<string, PowerReport>();
  /** The guests whose report loop runs. */
  private readonly sending = new Map<string, Promise<void>>();

  constructor(
    private readonly hostUuid: string,
    private readonly send: PowerSender,
    private readonly log: Logger,
    private readonly signal: AbortSignal,
  ) {}

  /** Queues a guest's power, observed now, and makes sure it is being sent. */
  report(state: GuestState): void {
    if (this.signal.aborted) return;
    this.pending.set(state.uuid, {
      requestId: newUuid(),
      host: this.hostUuid,
      machineUuid: state.uuid,
      powerState: POWER[state.power],
      observedTime: timestampFromDate(new Date()),
    });
    if (!this.sending.has(state.uuid)) {
      const loop = this.drain(state.uuid).finally(() => this.sending.delete(state.uuid));
      this.sending.set(state.uuid, loop);
    }
  }

  /** Resolves when every loop ended (after the signal aborted, or nothing is left to send). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.sending.values()]);
  }

  private async drain(uuid: string): Promise<void> {
    let failures = 0;
    for (let r = this.pending.get(uuid); r && !this.signal.aborted; r = this.pending.get(uuid)) {
      try {
        await this.send(r, this.signal);
        if (this.pending.get(uuid) === r) this.pending.delete(uuid);
        this.log.info({ machine: uuid, power: GuestPowerState[r.powerState] }, "power reported");
        failures = 0;
      } catch (err) {
        if (this.signal.aborted) return;
        const e = ConnectError.from(err);
        if (FINAL.has(e.code)) {
          if (this.pending.get(uuid) === r) this.pending.delete(uuid);
          this.log.warn(
            { machine: uuid, code: Code[e.code], err: e.rawMessage },
            "power report refused",
          );
          continue;
        }
        if (failures === 0)
          this.log.warn({ machine: uuid, err: e.rawMessage }, "cannot report power; retrying");
        await sleep(backoffDelay(failures, REPORT_BACKOFF), this.signal);
        failures += 1;
      }
    }
  }
}

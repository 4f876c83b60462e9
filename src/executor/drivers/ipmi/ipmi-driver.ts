/**
 * The `ipmi` BmcDriver: ipmitool over lanplus (see ipmitool.ts for how the password travels).
 * Every command to one BMC waits for the previous one (a queue per address:port), transient
 * failures are retried with backoff, and every power change is confirmed by polling
 * `chassis power status` until it reads the target, every boot device by reading boot
 * parameter 5 back. A soft power-off (ACPI request) that the OS ignores turns into a hard
 * power-off after `softOffTimeoutMs`.
 */

import {
  type BmcDriverOptions,
  endpointKey,
  notReached,
  type ResolvedBmcOptions,
  resolveBmcOptions,
  serialized,
  waitForPower,
  withRetries,
} from "../bmc-calls.js";
import {
  type BmcDriver,
  type BmcEndpoint,
  BmcError,
  type BootDevice,
  type PowerAction,
  type PowerState,
} from "../bmc-driver.js";
import { runIpmitool } from "./ipmitool.js";

/** How `chassis bootparam get 5` names each boot device (the read-back of setBootDevice). */
const BOOT_SELECTORS: Record<BootDevice, RegExp> = {
  pxe: /PXE/i,
  disk: /Hard-Drive/i,
  cdrom: /CD|DVD/i,
};

/** Options of the ipmi driver: the shared ones plus where ipmitool lives. */
export interface IpmiDriverOptions extends BmcDriverOptions {
  ipmitoolBinary?: string;
}

export class IpmiDriver implements BmcDriver {
  private readonly options: ResolvedBmcOptions;
  private readonly key: string;

  constructor(
    private readonly endpoint: BmcEndpoint,
    options: IpmiDriverOptions = {},
    private readonly binary = options.ipmitoolBinary ?? "ipmitool",
  ) {
    this.options = resolveBmcOptions(options);
    this.key = endpointKey(endpoint);
  }

  async verify(signal?: AbortSignal): Promise<void> {
    await this.powerState(signal);
  }

  async powerState(signal?: AbortSignal): Promise<PowerState> {
    const { stdout } = await this.call(["chassis", "power", "status"], signal);
    const match = /Chassis Power is (on|off)/i.exec(stdout);
    if (!match) {
      throw new BmcError("BMC_PROTOCOL_ERROR", `unexpected power status: ${stdout.trim()}`);
    }
    return (match[1] as string).toLowerCase() as PowerState;
  }

  async setPower(action: PowerAction, signal?: AbortSignal): Promise<void> {
    const o = this.options;
    const current = await this.powerState(signal);
    if (action === "on" || action === "off") {
      if (current === action) return;
      await this.call(["chassis", "power", action], signal);
      return this.confirm(action, o.powerTimeoutMs, signal);
    }
    if (action === "reset") {
      await this.call(["chassis", "power", current === "on" ? "reset" : "on"], signal);
      return this.confirm("on", o.powerTimeoutMs, signal);
    }
    if (current === "off") return;
    await this.call(["chassis", "power", "soft"], signal);
    const read = () => this.powerState(signal);
    if (await waitForPower(read, "off", o.softOffTimeoutMs, o.pollIntervalMs, signal)) return;
    o.logger?.warn(
      { bmc: this.key, timeoutMs: o.softOffTimeoutMs },
      "soft power-off ignored by the OS; forcing the power off",
    );
    await this.call(["chassis", "power", "off"], signal);
    return this.confirm("off", o.powerTimeoutMs, signal);
  }

  async setBootDevice(device: BootDevice, persistent: boolean, signal?: AbortSignal) {
    const command = ["chassis", "bootdev", device];
    if (persistent) command.push("options=persistent");
    let selector: string | undefined;
    try {
      await this.call(command, signal);
      const { stdout } = await this.call(["chassis", "bootparam", "get", "5"], signal);
      selector = /Boot Device Selector\s*:\s*(.+)/.exec(stdout)?.[1]?.trim();
    } catch (error) {
      if (error instanceof BmcError && error.reason === "BMC_PROTOCOL_ERROR") {
        throw new BmcError("BOOT_DEVICE_NOT_SET", error.message);
      }
      throw error;
    }
    if (!selector || !BOOT_SELECTORS[device].test(selector)) {
      throw new BmcError(
        "BOOT_DEVICE_NOT_SET",
        `asked for ${device}, the BMC reports boot device "${selector ?? "(none)"}"`,
      );
    }
  }

  async close(): Promise<void> {
    // ipmitool opens and closes its session per run: nothing is held between calls.
  }

  private async confirm(target: PowerState, timeoutMs: number, signal?: AbortSignal) {
    const read = () => this.powerState(signal);
    if (!(await waitForPower(read, target, timeoutMs, this.options.pollIntervalMs, signal))) {
      throw notReached(target, timeoutMs);
    }
  }

  /** One command, queued behind the others to this BMC, retried while transient. */
  private call(command: string[], signal?: AbortSignal) {
    const what = command.join(" ");
    return withRetries(
      this.options,
      what,
      () =>
        serialized(this.key, () => {
          const started = Date.now();
          const opts: { binary: string; signal?: AbortSignal } = { binary: this.binary };
          if (signal) opts.signal = signal;
          return runIpmitool(this.endpoint, command, this.options.timeoutMs, opts).finally(() =>
            this.options.logger?.debug(
              { bmc: this.key, command: what, ms: Date.now() - started },
              "ipmitool",
            ),
          );
        }),
      signal,
    );
  }
}

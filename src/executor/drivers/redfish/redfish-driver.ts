/**
 * The `redfish` BmcDriver: the System's PowerState, ComputerSystem.Reset with a reset type the
 * System lists in `ResetType@Redfish.AllowableValues`, the Boot source override by PATCH, and,
 * beyond the BmcDriver contract, virtual media (InsertMedia / EjectMedia on the Manager's CD).
 * The System is discovered from /redfish/v1/Systems unless the endpoint names it. Like the
 * ipmi driver: one queue per BMC, retries with backoff, every change read back.
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
import { RedfishClient } from "./redfish-client.js";

/** Redfish's names for the boot devices of the contract. */
const BOOT_TARGETS: Record<BootDevice, string> = { pxe: "Pxe", disk: "Hdd", cdrom: "Cd" };

type Json = Record<string, unknown>;

export class RedfishDriver implements BmcDriver {
  private readonly options: ResolvedBmcOptions;
  private readonly key: string;
  private readonly client: RedfishClient;
  private systemPath: string | undefined;

  constructor(endpoint: BmcEndpoint, options: BmcDriverOptions = {}) {
    this.options = resolveBmcOptions(options);
    this.key = endpointKey(endpoint);
    this.client = new RedfishClient(endpoint, this.options.timeoutMs);
    this.systemPath = endpoint.systemPath;
  }

  async verify(signal?: AbortSignal): Promise<void> {
    await this.system(signal);
  }

  async powerState(signal?: AbortSignal): Promise<PowerState> {
    const state = (await this.system(signal)).PowerState;
    if (state === "On" || state === "PoweringOff") return "on";
    if (state === "Off" || state === "PoweringOn") return "off";
    throw new BmcError("BMC_PROTOCOL_ERROR", `unexpected PowerState ${String(state)}`);
  }

  async setPower(action: PowerAction, signal?: AbortSignal): Promise<void> {
    const o = this.options;
    const system = await this.system(signal);
    const current: PowerState = system.PowerState === "Off" ? "off" : "on";
    const reset = resetAction(system);
    if (action === "on" || action === "off") {
      if (current === action) return;
      await this.reset(
        reset,
        pick(reset, action === "on" ? ["On"] : ["ForceOff", "GracefulShutdown"]),
        signal,
      );
      return this.confirm(action, o.powerTimeoutMs, signal);
    }
    if (action === "reset") {
      const type =
        current === "off"
          ? pick(reset, ["On"])
          : pick(reset, ["ForceRestart", "PowerCycle", "GracefulRestart"]);
      await this.reset(reset, type, signal);
      return this.confirm("on", o.powerTimeoutMs, signal);
    }
    if (current === "off") return;
    await this.reset(reset, pick(reset, ["GracefulShutdown"]), signal);
    const read = () => this.powerState(signal);
    if (await waitForPower(read, "off", o.softOffTimeoutMs, o.pollIntervalMs, signal)) return;
    o.logger?.warn(
      { bmc: this.key, timeoutMs: o.softOffTimeoutMs },
      "GracefulShutdown ignored by the OS; forcing the power off",
    );
    await this.reset(reset, pick(reset, ["ForceOff"]), signal);
    return this.confirm("off", o.powerTimeoutMs, signal);
  }

  async setBootDevice(device: BootDevice, persistent: boolean, signal?: AbortSignal) {
    const path = await this.path(signal);
    const boot = {
      BootSourceOverrideTarget: BOOT_TARGETS[device],
      BootSourceOverrideEnabled: persistent ? "Continuous" : "Once",
    };
    try {
      await this.call("PATCH", path, { Boot: boot }, signal);
    } catch (error) {
      if (error instanceof BmcError && error.reason === "BMC_PROTOCOL_ERROR") {
        throw new BmcError("BOOT_DEVICE_NOT_SET", error.message);
      }
      throw error;
    }
    const now = (await this.system(signal)).Boot as Json | undefined;
    if (
      now?.BootSourceOverrideTarget !== boot.BootSourceOverrideTarget ||
      now?.BootSourceOverrideEnabled !== boot.BootSourceOverrideEnabled
    ) {
      throw new BmcError("BOOT_DEVICE_NOT_SET", `the BMC still reports ${JSON.stringify(now)}`);
    }
  }

  /** Inserts the image at `imageUrl` into the BMC's virtual CD (the BMC fetches it). */
  async insertVirtualMedia(imageUrl: string, signal?: AbortSignal): Promise<void> {
    const media = await this.virtualCd(signal);
    const target = actionTarget(media, "#VirtualMedia.InsertMedia");
    await this.call(
      "POST",
      target,
      { Image: imageUrl, Inserted: true, WriteProtected: true },
      signal,
    );
    const now = (await this.call("GET", media["@odata.id"] as string, undefined, signal)).body;
    if (now?.Inserted !== true) {
      throw new BmcError("BMC_PROTOCOL_ERROR", "the virtual media still reads as not inserted");
    }
  }

  /** Ejects whatever the BMC's virtual CD holds. */
  async ejectVirtualMedia(signal?: AbortSignal): Promise<void> {
    const media = await this.virtualCd(signal);
    if (media.Inserted !== true) return;
    await this.call("POST", actionTarget(media, "#VirtualMedia.EjectMedia"), {}, signal);
  }

  async close(): Promise<void> {
    await this.client.logout();
  }

  private async virtualCd(signal?: AbortSignal): Promise<Json> {
    const managers = await this.call("GET", "/redfish/v1/Managers", undefined, signal);
    for (const manager of members(managers.body)) {
      const m = (await this.call("GET", manager, undefined, signal)).body;
      const collection = (m?.VirtualMedia as Json | undefined)?.["@odata.id"];
      if (typeof collection !== "string") continue;
      for (const uri of members((await this.call("GET", collection, undefined, signal)).body)) {
        const media = (await this.call("GET", uri, undefined, signal)).body ?? {};
        const types = (media.MediaTypes as string[] | undefined) ?? [];
        if (types.includes("CD") || types.includes("DVD")) return media;
      }
    }
    throw new BmcError("BMC_PROTOCOL_ERROR", "the BMC offers no virtual CD");
  }

  private async reset(action: { target: string }, type: string, signal?: AbortSignal) {
    await this.call("POST", action.target, { ResetType: type }, signal);
  }

  private async confirm(target: PowerState, timeoutMs: number, signal?: AbortSignal) {
    const read = () => this.powerState(signal);
    if (!(await waitForPower(read, target, timeoutMs, this.options.pollIntervalMs, signal))) {
      throw notReached(target, timeoutMs);
    }
  }

  private async system(signal?: AbortSignal): Promise<Json> {
    const path = await this.path(signal);
    return (await this.call("GET", path, undefined, signal)).body ?? {};
  }

  /** The System's path, discovered once from the Systems collection. */
  private async path(signal?: AbortSignal): Promise<string> {
    if (this.systemPath) return this.systemPath;
    const systems = members(
      (await this.call("GET", "/redfish/v1/Systems", undefined, signal)).body,
    );
    if (systems.length === 0) throw new BmcError("BMC_PROTOCOL_ERROR", "the BMC lists no System");
    this.systemPath = systems[0] as string;
    return this.systemPath;
  }

  private call(method: string, path: string, body: unknown, signal?: AbortSignal) {
    return withRetries(
      this.options,
      `${method} ${path}`,
      () => serialized(this.key, () => this.client.request(method, path, body, signal)),
      signal,
    );
  }
}

/** The members' @odata.id of a Redfish collection. */
function members(collection: Json | undefined): string[] {
  const list = (collection?.Members as Json[] | undefined) ?? [];
  return list.map((m) => m["@odata.id"]).filter((id): id is string => typeof id === "string");
}

function actionTarget(resource: Json, name: string): string {
  const target = ((resource.Actions as Json | undefined)?.[name] as Json | undefined)?.target;
  if (typeof target !== "string") throw new BmcError("BMC_PROTOCOL_ERROR", `no ${name} action`);
  return target;
}

/** The System's Reset action and the reset types it allows (all standard ones if unlisted). */
function resetAction(system: Json): { target: string; allowed: string[] | undefined } {
  const action = (system.Actions as Json | undefined)?.["#ComputerSystem.Reset"] as
    | Json
    | undefined;
  if (typeof action?.target !== "string") {
    throw new BmcError("BMC_PROTOCOL_ERROR", "the System has no #ComputerSystem.Reset action");
  }
  const allowed = action["ResetType@Redfish.AllowableValues"];
  return {
    target: action.target,
    allowed: Array.isArray(allowed) ? (allowed as string[]) : undefined,
  };
}

/** The first of `wanted` the BMC allows. */
function pick(reset: { allowed: string[] | undefined }, wanted: string[]): string {
  const found = reset.allowed ? wanted.find((w) => reset.allowed?.includes(w)) : wanted[0];
  if (!found) {
    throw new BmcError(
      "BMC_PROTOCOL_ERROR",
      `the BMC allows none of ${wanted.join(", ")} (it allows ${reset.allowed?.join(", ")})`,
    );
  }
  return found;
}

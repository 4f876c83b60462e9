/**
 * The contract between the executor (acting as conductor for the bare-metal nodes it owns) and
 * a node's baseboard management controller: power and boot device (Ironic's power and
 * management interfaces). Two implementations exist: `ipmi` (ipmitool over lanplus) and
 * `redfish` (HTTP(S) to /redfish/v1). Every method is safe to call again after a failure, and
 * every power change is confirmed by reading the state back before it returns.
 */

/** Power as the BMC reports it. */
export type PowerState = "on" | "off";

/** A power change: "soft-off" asks the OS to shut down and falls back to "off" after a timeout. */
export type PowerAction = "on" | "off" | "soft-off" | "reset";

/** Where the node boots from next. */
export type BootDevice = "pxe" | "disk" | "cdrom";

/** How to reach one BMC. The password never appears in argv, logs or errors. */
export interface BmcEndpoint {
  driver: "ipmi" | "redfish";
  address: string;
  port: number;
  username: string;
  password: string;
  /** Redfish: verify the BMC's TLS certificate (default true). */
  verifyTls?: boolean;
  /** Redfish: "http" or "https" (default "https"). */
  scheme?: "http" | "https";
  /** IPMI: the lanplus cipher suite (default 3). */
  cipherSuite?: number;
  /** Redfish: the system's resource path; discovered from /redfish/v1/Systems when absent. */
  systemPath?: string;
}

export interface BmcDriver {
  /** Checks address and credentials (Ironic's "verify"); throws BmcError AUTH_FAILED etc. */
  verify(signal?: AbortSignal): Promise<void>;
  /** The current power state, read from the BMC. */
  powerState(signal?: AbortSignal): Promise<PowerState>;
  /** Changes power and waits until the BMC reports the target state (or throws). */
  setPower(action: PowerAction, signal?: AbortSignal): Promise<void>;
  /** Sets the next boot device, once (next boot only) or persistently. */
  setBootDevice(device: BootDevice, persistent: boolean, signal?: AbortSignal): Promise<void>;
  /** Releases sessions or connections; the node's power is left as it is. */
  close(): Promise<void>;
}

/** A BMC failure with a stable reason for the node's record. */
export class BmcError extends Error {
  constructor(
    /**
     * Stable UPPER_SNAKE reason: AUTH_FAILED (wrong credentials), BMC_UNREACHABLE (no answer
     * after the retries), BMC_TIMEOUT, POWER_STATE_NOT_REACHED, BOOT_DEVICE_NOT_SET,
     * BMC_PROTOCOL_ERROR, BMC_TOOL_MISSING.
     */
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = "BmcError";
  }
}

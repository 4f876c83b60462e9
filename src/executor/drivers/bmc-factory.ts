/**
 * The one place that turns a node's BMC endpoint into a driver, so the conductor never names an
 * implementation:
 *
 *   const bmc = createBmcDriver(node.bmc, { logger, timeoutMs: 10_000, retries: 3 });
 *   try { await bmc.verify(); await bmc.setBootDevice("pxe", false); await bmc.setPower("on"); }
 *   finally { await bmc.close(); }
 *
 * Defaults (bmc-calls.ts): 15 s per command, 3 retries with backoff from 500 ms, 60 s for a
 * power change to read back, 120 s before a soft-off becomes a hard off. Failures are BmcErrors
 * with a stable reason (AUTH_FAILED, BMC_UNREACHABLE, BMC_TIMEOUT, POWER_STATE_NOT_REACHED,
 * BOOT_DEVICE_NOT_SET, BMC_PROTOCOL_ERROR, BMC_TOOL_MISSING).
 */
import type { BmcDriverOptions } from "./bmc-calls.js";
import type { BmcDriver, BmcEndpoint } from "./bmc-driver.js";
import { IpmiDriver, type IpmiDriverOptions } from "./ipmi/ipmi-driver.js";
import { RedfishDriver } from "./redfish/redfish-driver.js";

export type { BmcDriverOptions } from "./bmc-calls.js";

/** A driver for `endpoint`, chosen by `endpoint.driver`. */
export function createBmcDriver(
  endpoint: BmcEndpoint,
  options: BmcDriverOptions & IpmiDriverOptions = {},
): BmcDriver {
  switch (endpoint.driver) {
    case "ipmi":
      return new IpmiDriver(endpoint, options);
    case "redfish":
      return new RedfishDriver(endpoint, options);
  }
}

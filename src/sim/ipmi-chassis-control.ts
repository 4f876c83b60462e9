/**
 * ipmi_sim's `chassis_control` program for a simulated node: ipmi_sim runs it for every
 * chassis command it receives, as `<this> <node-dir> <mc> get <parm>...` or
 * `<this> <node-dir> <mc> set <parm> <value>...` (parm: power, reset, shutdown, boot). A get
 * prints `<parm>:<value>` lines; a set prints nothing; a failure prints its reason on stdout
 * (ipmi_sim logs it) and exits 1. The work is done by SimMachine over the guest's QMP socket.
 *
 * ipmi_sim passes the boot device only (pxe, default = disk, cdrom, none), not IPMI's "next boot
 * only" flag, so an IPMI boot device here is persistent until changed.
 */
import type { BootDevice } from "../executor/drivers/bmc-driver.js";
import { SimMachine } from "./sim-machine.js";
import { simFiles } from "./sim-qemu.js";

const IPMI_BOOT: Record<string, BootDevice | null> = {
  pxe: "pxe",
  default: "disk",
  cdrom: "cdrom",
  none: null,
};

/** Runs one hook call; returns the lines to print. */
export async function chassisControl(dir: string, args: string[]): Promise<string[]> {
  const machine = new SimMachine(simFiles(dir));
  const [op, ...parms] = args;
  const out: string[] = [];
  if (op === "get") {
    for (const parm of parms) {
      if (parm === "power") out.push(`power:${(await machine.powerState()) === "on" ? 1 : 0}`);
      else if (parm === "boot") {
        const { target } = await machine.bootOverride();
        const name = Object.entries(IPMI_BOOT).find(([, d]) => d === target)?.[0] ?? "none";
        out.push(`boot:${name}`);
      } else throw new Error(`cannot get ${parm}`);
    }
    return out;
  }
  if (op !== "set") throw new Error(`unknown operation ${op}`);
  for (let i = 0; i + 1 < parms.length; i += 2) {
    const [parm, value] = [parms[i], parms[i + 1] as string];
    if (parm === "power") {
      const on = (await machine.powerState()) === "on";
      if (value === "1" && !on) await machine.powerOn();
      if (value === "0" && on) await machine.forceOff();
    } else if (parm === "reset" && value === "1") await machine.powerOn();
    else if (parm === "shutdown" && value === "1") await machine.gracefulShutdown();
    else if (parm === "boot") {
      if (!(value in IPMI_BOOT)) throw new Error(`unsupported boot device ${value}`);
      const target = IPMI_BOOT[value] ?? null;
      await machine.setBootOverride({ target, mode: target ? "Continuous" : "Disabled" });
    } else if (parm !== "reset" && parm !== "shutdown") throw new Error(`cannot set ${parm}`);
  }
  return out;
}

const [dir, _mc, ...rest] = process.argv.slice(2);
if (dir !== undefined && process.argv[1]?.endsWith("ipmi-chassis-control.ts")) {
  chassisControl(dir, rest).then(
    (lines) => {
      for (const line of lines) process.stdout.write(`${line}\n`);
    },
    (error: Error) => {
      process.stdout.write(`chassis_control: ${error.message}\n`);
      process.exitCode = 1;
    },
  );
}

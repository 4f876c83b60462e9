/**
 * What ipmi_sim's `chassis_control` program does for a simulated node. ipmi_sim runs the
 * program for every chassis command, as `<program> <mc> get <parm>...` or
 * `<program> <mc> set <parm> <value>...` (parm: power, reset, shutdown, boot); a get prints
 * `<parm>:<value>` lines, a set prints nothing, a failure prints its reason on stdout (ipmi_sim
 * logs it) and exits non-zero. The program is a few lines of bash (ipmi-sim.ts) that forward the
 * call over TCP to the node's process (sim-node-main.ts), which runs it here — so a chassis
 * command costs a local round trip rather than starting Node for every call.
 *
 * ipmi_sim passes the boot device only (pxe, default = disk, cdrom, none), not IPMI's "next boot
 * only" flag, so an IPMI boot device here is persistent until changed.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:net";
import type { BootDevice } from "../executor/drivers/bmc-driver.js";
import type { SimMachine } from "./sim-machine.js";

const IPMI_BOOT: Record<string, BootDevice | null> = {
  pxe: "pxe",
  default: "disk",
  cdrom: "cdrom",
  none: null,
};

/** Runs one chassis_control call (arguments after the MC address); returns the lines to print. */
export async function chassisControl(machine: SimMachine, args: string[]): Promise<string[]> {
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
    } else if (parm === "reset") {
      if (value === "1") await machine.powerOn();
    } else if (parm === "shutdown") {
      if (value === "1") await machine.gracefulShutdown();
    } else if (parm === "boot") {
      if (!(value in IPMI_BOOT)) throw new Error(`unsupported boot device ${value}`);
      const target = IPMI_BOOT[value] ?? null;
      await machine.setBootOverride({ target, mode: target ? "Continuous" : "Disabled" });
    } else throw new Error(`cannot set ${parm}`);
  }
  return out;
}

/** The forwarding server: one line `<token> <mc> <op> <parm>...` in, lines then OK/ERR out. */
export async function serveChassisControl(
  machine: SimMachine,
): Promise<{ server: Server; port: number; token: string }> {
  const token = randomBytes(16).toString("hex");
  const expected = Buffer.from(token);
  const server = createServer((socket) => {
    let buffer = "";
    socket.setEncoding("utf8");
    socket.on("error", () => socket.destroy());
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      const end = buffer.indexOf("\n");
      if (end < 0) return;
      const [given = "", _mc, ...args] = buffer.slice(0, end).trim().split(/\s+/);
      const ok = given.length === token.length && timingSafeEqual(Buffer.from(given), expected);
      const work = ok ? chassisControl(machine, args) : Promise.reject(new Error("bad token"));
      work.then(
        (lines) => socket.end(`${lines.map((l) => `${l}\n`).join("")}OK\n`),
        (error: Error) => socket.end(`ERR ${error.message.replaceAll("\n", " ")}\n`),
      );
    });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return { server, port, token };
}

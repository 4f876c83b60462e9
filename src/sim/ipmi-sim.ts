/**
 * A real IPMI BMC for a simulated node: OpenIPMI's `ipmi_sim` (Debian package openipmi)
 * serving IPMI 2.0 lanplus on 127.0.0.1:<port>, with one admin user, whose chassis commands
 * reach the node's process (sim-node-main.ts, see ipmi-chassis-control.ts). Its configuration
 * lives in the node's directory: lan.conf (mode 0600: it holds the password, which never goes on
 * a command line), the emulator command file bmc.emu (one BMC at IPMB 0x20), and
 * chassis-control.sh (mode 0700: it holds the token of the node process's control port).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { chmod, mkdir, open, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { runIpmitool } from "../executor/drivers/ipmi/ipmitool.js";

/** A running ipmi_sim. */
export interface IpmiSim {
  pid: number;
  port: number;
  process: ChildProcess;
}

/** A free UDP port on 127.0.0.1 (ipmi_sim binds it right after). */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket("udp4");
  await new Promise<void>((ok) => socket.bind(0, "127.0.0.1", ok));
  const { port } = socket.address();
  await new Promise<void>((ok) => socket.close(ok));
  return port;
}

/** IPMI 2.0 passwords are at most 20 bytes; lan.conf quotes them, so no quote or newline. */
export function checkIpmiCredentials(username: string, password: string): void {
  for (const [what, value, max] of [
    ["username", username, 16],
    ["password", password, 20],
  ] as const) {
    if (value === "" || Buffer.byteLength(value) > max || /["\\\s]/.test(value)) {
      throw new Error(`ipmi_sim ${what}: 1–${max} bytes, no quotes, backslashes or spaces`);
    }
  }
}

/** The lan.conf of one node (ipmi_lan(5)). */
export function lanConf(
  name: string,
  port: number,
  username: string,
  password: string,
  hook: string,
) {
  return [
    `name "${name}"`,
    "set_working_mc 0x20",
    "  startlan 1",
    `    addr 127.0.0.1 ${port}`,
    "    priv_limit admin",
    "    allowed_auths_callback none md2 md5 straight",
    "    allowed_auths_user none md2 md5 straight",
    "    allowed_auths_operator none md2 md5 straight",
    "    allowed_auths_admin none md2 md5 straight",
    "    guid a5e1b4b0c0de4d4e9a1b2c3d4e5f6a7b",
    "  endlan",
    `  chassis_control "${hook} 0x20"`,
    `  user 2 true "${username}" "${password}" admin 10 none md2 md5 straight`,
    "",
  ].join("\n");
}

/** The chassis_control program: forwards its arguments to the node process, prints the answer. */
export function chassisControlScript(port: number, token: string): string {
  return `#!/bin/bash
exec 3<>"/dev/tcp/127.0.0.1/${port}" || { echo "the node process does not answer"; exit 1; }
printf '%s %s\\n' '${token}' "$*" >&3
while IFS= read -r line <&3; do
  case "$line" in
    OK) exit 0 ;;
    "ERR "*) echo "\${line#ERR }"; exit 1 ;;
    *) echo "$line" ;;
  esac
done
echo "the node process closed the connection"
exit 1
`;
}

/** Writes the node's ipmi_sim files and starts it; resolves once it answers over lanplus. */
export async function startIpmiSim(opts: {
  name: string;
  dir: string;
  username: string;
  password: string;
  /** The node process's chassis control port and token (serveChassisControl). */
  control: { port: number; token: string };
  binary?: string;
}): Promise<IpmiSim> {
  checkIpmiCredentials(opts.username, opts.password);
  const port = await freeUdpPort();
  const hook = join(opts.dir, "chassis-control.sh");
  await writeFile(hook, chassisControlScript(opts.control.port, opts.control.token), {
    mode: 0o700,
  });
  await chmod(hook, 0o700);
  const conf = join(opts.dir, "lan.conf");
  await writeFile(conf, lanConf(opts.name, port, opts.username, opts.password, hook), {
    mode: 0o600,
  });
  const emu = join(opts.dir, "bmc.emu");
  await writeFile(
    emu,
    "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n",
  );
  const state = join(opts.dir, "ipmi-state");
  await mkdir(state, { recursive: true });
  const log = await open(join(opts.dir, "ipmi_sim.log"), "w");
  const binary = opts.binary ?? "ipmi_sim";
  const child = spawn(binary, ["-c", conf, "-f", emu, "-s", state, "-n"], {
    stdio: ["ignore", log.fd, log.fd],
    cwd: opts.dir,
  });
  await new Promise<void>((ok, fail) => {
    child.once("spawn", ok);
    child.once("error", (error: NodeJS.ErrnoException) =>
      fail(
        error.code === "ENOENT"
          ? new Error(`${binary} not found: install the Debian package openipmi`)
          : error,
      ),
    );
  }).finally(() => log.close());
  const { username, password } = opts;
  const endpoint = { driver: "ipmi" as const, address: "127.0.0.1", port, username, password };
  for (let i = 0; ; i++) {
    try {
      await runIpmitool(endpoint, ["mc", "info"], 5_000);
      return { pid: child.pid as number, port, process: child };
    } catch (error) {
      if (i >= 20 || child.exitCode !== null) {
        child.kill("SIGKILL");
        throw new Error(`ipmi_sim of ${opts.name} does not answer: ${(error as Error).message}`);
      }
      await sleep(250);
    }
  }
}

/**
 * The management process of one simulated node (fleet.ts starts it once the node's QEMU runs):
 * `tsx src/sim/sim-node-main.ts --dir <node dir> --name n1 (--redfish | --ipmi-control)
 * [--username admin --password-file F] [--port 0] [--tls-cert C --tls-key K]`.
 * With --redfish it is the node's Redfish BMC (redfish-emulator.ts) — its own process, so a test
 * can freeze it with SIGSTOP like a hung BMC — and prints `redfish <url>`. With --ipmi-control
 * it serves the chassis commands of the node's ipmi_sim and prints `control <port> <token>`.
 * The password comes from a file, never argv.
 */
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { serveChassisControl } from "./ipmi-chassis-control.js";
import { redfishEmulator } from "./redfish-emulator.js";
import { SimMachine } from "./sim-machine.js";
import { simFiles } from "./sim-qemu.js";

const { values } = parseArgs({
  options: {
    dir: { type: "string" },
    name: { type: "string" },
    uuid: { type: "string" },
    redfish: { type: "boolean", default: false },
    "ipmi-control": { type: "boolean", default: false },
    username: { type: "string", default: "admin" },
    "password-file": { type: "string" },
    address: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "0" },
    vcpus: { type: "string", default: "1" },
    "memory-mb": { type: "string", default: "512" },
    macs: { type: "string", default: "" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
  },
});

if (!values.dir || !values.name || (values.redfish && !values["password-file"])) {
  process.stderr.write(
    "usage: sim-node-main --dir D --name N (--redfish --password-file F | --ipmi-control)\n",
  );
  process.exit(2);
}
const files = simFiles(values.dir);
const machine = new SimMachine(files);
const closers: (() => void)[] = [];

if (values["ipmi-control"]) {
  const { server, port, token } = await serveChassisControl(machine);
  closers.push(() => server.close());
  process.stdout.write(`control ${port} ${token}\n`);
}

if (values.redfish) {
  const password = (await readFile(values["password-file"] as string, "utf8")).replace(
    /\r?\n$/,
    "",
  );
  const handler = redfishEmulator({
    system: {
      id: values.name.replace(/[^A-Za-z0-9_-]/g, "-"),
      name: values.name,
      uuid: values.uuid ?? randomUUID(),
      vcpus: Number(values.vcpus),
      memoryMb: Number(values["memory-mb"]),
      macs: values.macs.split(",").filter((m) => m !== ""),
    },
    machine,
    username: values.username,
    password,
    mediaPath: files.media,
  });
  const tls = values["tls-cert"] && values["tls-key"];
  const server = tls
    ? https.createServer(
        {
          cert: await readFile(values["tls-cert"] as string),
          key: await readFile(values["tls-key"] as string),
        },
        handler,
      )
    : http.createServer(handler);
  closers.push(() => server.closeAllConnections());
  await new Promise<void>((ok) => server.listen(Number(values.port), values.address, ok));
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`redfish ${tls ? "https" : "http"}://${values.address}:${port}\n`);
}

// The parent (a test, sim-fleet.sh) holds our stdin and names the processes of this node it
// started ("own <pid>"); when it dies without stopping the node, stdin ends and the node goes
// with it — no orphaned guests or BMCs on a shared machine.
const owned = new Set<number>();
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk: string) => {
  input += chunk;
  for (const match of input.matchAll(/^own (\d+)$/gm)) owned.add(Number(match[1]));
});
process.stdin.on("end", async () => {
  const qemu = Number((await readFile(files.pidFile, "utf8").catch(() => "")).trim());
  for (const pid of [...owned, qemu]) {
    try {
      if (pid > 0) process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  process.exit(0);
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    for (const close of closers) close();
    process.exit(0);
  });
}

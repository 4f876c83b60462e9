/**
 * The Redfish emulator as its own process (so a test can freeze it with SIGSTOP like a hung
 * BMC): `tsx src/sim/redfish-emulator-main.ts --dir <node dir> --name n1 --username admin
 * --password-file <file> [--port 0] [--tls-cert c --tls-key k]`. The password comes from a file,
 * never argv. Once listening it prints `listening <url>` on stdout. The node's QEMU guest must
 * already run (fleet.ts starts both).
 */
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { redfishEmulator } from "./redfish-emulator.js";
import { SimMachine } from "./sim-machine.js";
import { simFiles } from "./sim-qemu.js";

const { values } = parseArgs({
  options: {
    dir: { type: "string" },
    name: { type: "string" },
    uuid: { type: "string" },
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

if (!values.dir || !values.name || !values["password-file"]) {
  process.stderr.write("usage: redfish-emulator-main --dir D --name N --password-file F\n");
  process.exit(2);
}
const files = simFiles(values.dir);
const password = (await readFile(values["password-file"], "utf8")).replace(/\r?\n$/, "");
const handler = redfishEmulator({
  system: {
    id: values.name.replace(/[^A-Za-z0-9_-]/g, "-"),
    name: values.name,
    uuid: values.uuid ?? randomUUID(),
    vcpus: Number(values.vcpus),
    memoryMb: Number(values["memory-mb"]),
    macs: values.macs.split(",").filter((m) => m !== ""),
  },
  machine: new SimMachine(files),
  username: values.username,
  password,
  mediaPath: files.media,
});
const server =
  values["tls-cert"] && values["tls-key"]
    ? https.createServer(
        {
          cert: await readFile(values["tls-cert"]),
          key: await readFile(values["tls-key"]),
        },
        handler,
      )
    : http.createServer(handler);
server.listen(Number(values.port), values.address, () => {
  const { port } = server.address() as AddressInfo;
  const scheme = values["tls-cert"] ? "https" : "http";
  process.stdout.write(`listening ${scheme}://${values.address}:${port}\n`);
});
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}

/**
 * `scripts/sim-fleet.sh`: starts N simulated bare-metal nodes for trying Mulligan without
 * hardware, prints how to enroll each (BMC driver, address, port, MACs) and keeps them until
 * Ctrl-C. Options: --count N, --bmc ipmi|redfish|mixed, --boot-url URL (the executor's iPXE URL
 * as the guests see it, host = 10.0.2.2), --dir D, --memory-mb, --vcpus, --disk-gb,
 * --username; the BMC password is read from $MULLIGAN_SIM_BMC_PASSWORD (never argv) or
 * generated and written to <dir>/bmc-password (mode 0600). Each node is one QEMU guest (TCG):
 * mind the host's CPU and memory.
 */
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { type SimNode, startSimNode } from "./fleet.js";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "1" },
    bmc: { type: "string", default: "ipmi" },
    // biome-ignore lint/suspicious/noTemplateCurlyInString: iPXE expands ${net0/mac}, not JS
    "boot-url": { type: "string", default: "http://10.0.2.2:8080/boot/ipxe?mac=${net0/mac}" },
    dir: { type: "string", default: ".mulligan/sim" },
    "memory-mb": { type: "string", default: "512" },
    vcpus: { type: "string", default: "1" },
    "disk-gb": { type: "string", default: "4" },
    username: { type: "string", default: "admin" },
  },
});

const count = Number(values.count);
if (!Number.isInteger(count) || count < 1 || !["ipmi", "redfish", "mixed"].includes(values.bmc)) {
  process.stderr.write("usage: sim-fleet.sh [--count N] [--bmc ipmi|redfish|mixed] ...\n");
  process.exit(2);
}
const dir = resolve(values.dir);
await mkdir(dir, { recursive: true, mode: 0o700 });
let password = process.env.MULLIGAN_SIM_BMC_PASSWORD ?? "";
if (password === "") {
  password = randomBytes(9).toString("base64url");
  await writeFile(join(dir, "bmc-password"), password, { mode: 0o600 });
}

const nodes: SimNode[] = [];
async function stopAll() {
  await Promise.all(nodes.map((n) => n.stop()));
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    stopAll().then(() => process.exit(0));
  });
}

try {
  for (let i = 1; i <= count; i++) {
    const bmc = values.bmc === "mixed" ? (i % 2 === 1 ? "ipmi" : "redfish") : values.bmc;
    const node = await startSimNode({
      name: `sim-${i}`,
      bmc: bmc as "ipmi" | "redfish",
      username: values.username,
      password,
      bootUrl: values["boot-url"],
      diskGb: Number(values["disk-gb"]),
      memoryMb: Number(values["memory-mb"]),
      vcpus: Number(values.vcpus),
      workDir: dir,
    });
    nodes.push(node);
    const e = node.bmcEndpoint;
    const where =
      e.driver === "redfish" ? `${e.scheme}://${e.address}:${e.port}` : `${e.address}:${e.port}`;
    process.stdout.write(
      `${node.name}  bmc=${e.driver} ${where}  user=${e.username}  macs=${node.macs.join(",")}  serial=${node.serialLogPath}\n`,
    );
  }
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n`);
  await stopAll();
  process.exit(1);
}
const source = process.env.MULLIGAN_SIM_BMC_PASSWORD
  ? "$MULLIGAN_SIM_BMC_PASSWORD"
  : join(dir, "bmc-password");
process.stdout.write(`BMC password: in ${source}. Nodes are powered off. Ctrl-C stops them all.\n`);

/**
 * A process that starts one simulated node and then waits to be killed (bmc-fleet.test.ts
 * SIGKILLs it to prove a node never outlives the process that started it).
 */
import { startSimNode } from "../src/sim/fleet.js";

const [workDir = ".", bmc = "ipmi"] = process.argv.slice(2);
const node = await startSimNode({
  name: "child-node",
  bmc: bmc as "ipmi" | "redfish",
  username: "admin",
  password: "Ch1ld-node-pw",
  bootUrl: "http://10.0.2.2:9/none",
  diskGb: 1,
  memoryMb: 128,
  vcpus: 1,
  macs: ["52:54:00:aa:bb:01"],
  workDir,
});
process.stdout.write(
  `${JSON.stringify({ qemu: node.qemuPid, bmc: node.bmcPid, disk: node.diskPath })}\n`,
);
setInterval(() => undefined, 60_000);

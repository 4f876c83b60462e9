/**
 * `mulligan node …`: bare-metal nodes (NodeService). The BMC password is read from a file or
 * MULLIGAN_BMC_PASSWORD, never from argv (every user of the host can read the process list);
 * no command ever prints it, because no response carries it.
 */
import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import {
  BmcDriver,
  type Node,
  NodeSchema,
  NodeState,
  PowerState,
} from "../../gen/mulligan/control/v1/node_pb.js";
import { type GlobalOptions, requestId, withClient } from "../context.js";
import { UsageError } from "../exit-codes.js";
import { collectPages, limitOf, withLimit, withRequestId } from "../options.js";
import { type Column, label, printDeleted, printList, printOne, time } from "../output.js";
import { collect, count, enumChoices, enumValue } from "../parse.js";

/** Where the BMC password comes from when no --password-file is given. */
export const BMC_PASSWORD_ENV = "MULLIGAN_BMC_PASSWORD";

const power = (p: PowerState) => (p === PowerState.UNSPECIFIED ? "" : label(PowerState, p));
const state = (s: NodeState) => (s === NodeState.UNSPECIFIED ? "" : (NodeState[s] ?? String(s)));

const NODE_COLUMNS: Column<Node>[] = [
  { header: "NAME", value: (n) => n.name },
  { header: "STATE", value: (n) => state(n.state) },
  { header: "POWER", value: (n) => power(n.powerState) },
  { header: "MAINT", value: (n) => (n.maintenance ? "yes" : "") },
  { header: "CLASS", value: (n) => n.resourceClass },
  {
    header: "BMC",
    value: (n) => `${label(BmcDriver, n.bmc?.driver ?? 0)} ${n.bmc?.address}:${n.bmc?.port}`,
  },
  { header: "MESSAGE", value: (n) => n.message },
];

const NODE_DETAIL: Column<Node>[] = [
  { header: "name", value: (n) => n.name },
  { header: "uuid", value: (n) => n.uuid },
  { header: "region", value: (n) => n.regionName },
  { header: "state", value: (n) => state(n.state) },
  { header: "target state", value: (n) => state(n.targetState) },
  {
    header: "last error",
    value: (n) =>
      n.lastError ? `${n.lastError.step}: ${n.lastError.reason} — ${n.lastError.message}` : "",
  },
  {
    header: "power",
    value: (n) =>
      n.targetPowerState === PowerState.UNSPECIFIED
        ? power(n.powerState)
        : `${power(n.powerState)} (target ${power(n.targetPowerState)})`,
  },
  {
    header: "maintenance",
    value: (n) => (n.maintenance ? `yes (${n.maintenanceReason})` : "no"),
  },
  {
    header: "bmc",
    value: (n) =>
      `${label(BmcDriver, n.bmc?.driver ?? 0)} ${n.bmc?.username}@${n.bmc?.address}:${n.bmc?.port}`,
  },
  { header: "boot macs", value: (n) => n.bootMacs.join(", ") },
  { header: "resource class", value: (n) => n.resourceClass },
  {
    header: "inventory",
    value: (n) => {
      const i = n.inventory;
      if (!i) return "(not inspected)";
      const disks = i.disks.map((d) => `${d.name} ${Number(d.sizeBytes) / 2 ** 30} GiB`);
      return `${i.cpus} CPUs, ${i.memoryMb} MiB, ${disks.join(", ")}`;
    },
  },
  { header: "found capabilities", value: (n) => n.inventory?.capabilities.join(", ") ?? "" },
  { header: "conductor group", value: (n) => n.conductorGroup },
  { header: "machine", value: (n) => n.machineUuid },
  { header: "message", value: (n) => n.message },
  { header: "updated", value: (n) => time(n.updateTime) },
];

function printNode(format: GlobalOptions["output"], node: Node | undefined): void {
  if (node) printOne(format, NodeSchema, node, NODE_DETAIL);
}

/** The BMC password: the first line of the file, else the environment variable. */
function bmcPassword(file: string | undefined): string {
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new UsageError(`--password-file ${file}: ${(err as Error).message}`);
    }
    const line = text.split(/\r?\n/, 1)[0] ?? "";
    if (line === "") throw new UsageError(`--password-file ${file} is empty`);
    return line;
  }
  const env = process.env[BMC_PASSWORD_ENV];
  if (!env) throw new UsageError(`give --password-file or set ${BMC_PASSWORD_ENV}`);
  return env;
}

interface EnrollOptions {
  region: string;
  driver: string;
  address: string;
  port?: string;
  username: string;
  passwordFile?: string;
  mac: string[];
  flavor?: string;
  cipherSuite?: string;
  scheme?: string;
  insecure?: boolean;
  property?: string[];
  conductorGroup?: string;
  requestId?: string;
}

/** The `node` command group. */
export function nodeCommand(): Command {
  const node = new Command("node").description(
    "enroll and manage bare-metal nodes (admins and operators; fleet readers read)",
  );

  withRequestId(
    node
      .command("enroll <name>")
      .description("enroll a node; its BMC credentials are verified at once")
      .requiredOption("--region <region>", "region of the node")
      .addOption(
        new Option("--driver <driver>", "BMC protocol")
          .choices(["ipmi", "redfish"])
          .makeOptionMandatory(),
      )
      .requiredOption("--address <host>", "BMC address")
      .option("--port <port>", "BMC port (default 623 ipmi, 443 redfish)")
      .requiredOption("--username <name>", "BMC user")
      .option("--password-file <path>", `BMC password file (else env ${BMC_PASSWORD_ENV})`)
      .requiredOption("--mac <mac>", "a MAC address the node netboots from (repeatable)", collect)
      .option("--flavor <name>", "resource class CUSTOM_BAREMETAL_<FLAVOR> (default GENERIC)")
      .option("--cipher-suite <n>", "IPMI lanplus cipher suite (default 3)")
      .option("--scheme <scheme>", "Redfish: http or https (default https)")
      .option("--insecure", "Redfish: do not verify the BMC's TLS certificate")
      .option(
        "--property <key=value>",
        "informational property (repeatable; capabilities=A,B)",
        collect,
      )
      .option("--conductor-group <group>", "executors conducting the node (default: default)"),
  ).action(async (name: string, o: EnrollOptions, cmd: Command) => {
    const password = bmcPassword(o.passwordFile);
    const properties: Record<string, string> = {};
    for (const pair of o.property ?? []) {
      const eq = pair.indexOf("=");
      if (eq <= 0) throw new UsageError(`--property "${pair}" must be KEY=VALUE`);
      properties[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    await withClient(cmd, async (client, g) => {
      const res = await client.nodes.enrollNode({
        requestId: requestId(o),
        name,
        region: o.region,
        bmc: {
          driver: o.driver === "redfish" ? BmcDriver.REDFISH : BmcDriver.IPMI,
          address: o.address,
          port: o.port === undefined ? 0 : count(o.port, "--port"),
          username: o.username,
          password,
          cipherSuite: o.cipherSuite === undefined ? 0 : count(o.cipherSuite, "--cipher-suite"),
          scheme: o.scheme ?? "",
          skipTlsVerify: o.insecure ?? false,
        },
        bootMacs: o.mac,
        flavor: o.flavor ?? "",
        properties,
        conductorGroup: o.conductorGroup ?? "",
      });
      printNode(g.output, res.node);
    });
  });

  withLimit(
    node
      .command("list")
      .description("list nodes")
      .option("--state <state>", `only nodes in this state: ${enumChoices(NodeState)}`),
  ).action(async (o: { state?: string; limit?: number }, cmd: Command) => {
    const filter = o.state === undefined ? 0 : enumValue(NodeState, o.state, "--state");
    await withClient(cmd, async (client, g) => {
      const rows = await collectPages(limitOf(o), async (pageSize, pageToken) => {
        const res = await client.nodes.listNodes({ pageSize, pageToken, state: filter });
        return { items: res.nodes, nextPageToken: res.nextPageToken };
      });
      printList(g.output, NodeSchema, rows, NODE_COLUMNS);
    });
  });

  node
    .command("show <node>")
    .description("show a node (name or UUID); the BMC password is never shown")
    .action(async (ref: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        printNode(g.output, (await client.nodes.getNode({ node: ref })).node);
      }),
    );

  for (const [verb, help] of [
    ["inspect", "boot the deploy agent and record the hardware (→ INSPECTING → MANAGEABLE)"],
    ["clean", "erase the disks (→ CLEANING → AVAILABLE)"],
  ] as const)
    withRequestId(node.command(`${verb} <node>`).description(help)).action(
      async (ref: string, o: { requestId?: string }, cmd: Command) =>
        withClient(cmd, async (client, g) => {
          const req = { requestId: requestId(o), node: ref };
          const res =
            verb === "inspect"
              ? await client.nodes.inspectNode(req)
              : await client.nodes.cleanNode(req);
          printNode(g.output, res.node);
        }),
    );

  withRequestId(
    node
      .command("maintenance <node> <on|off>")
      .description("maintenance blocks automatic steps and new machines on the node")
      .option("--reason <text>", "why (required with on)"),
  ).action(
    async (
      ref: string,
      onOff: string,
      o: { reason?: string; requestId?: string },
      cmd: Command,
    ) => {
      if (onOff !== "on" && onOff !== "off")
        throw new UsageError(`expected on or off, got ${onOff}`);
      await withClient(cmd, async (client, g) => {
        const res = await client.nodes.setMaintenance({
          requestId: requestId(o),
          node: ref,
          maintenance: onOff === "on",
          reason: o.reason ?? "",
        });
        printNode(g.output, res.node);
      });
    },
  );

  withRequestId(
    node
      .command("delete <node>")
      .description("delete an idle node (refused while a machine uses it)"),
  ).action(async (ref: string, o: { requestId?: string }, cmd: Command) =>
    withClient(cmd, async (client, g) => {
      await client.nodes.deleteNode({ requestId: requestId(o), node: ref });
      printDeleted(g.output, "node", ref);
    }),
  );

  return node;
}

/**
 * `mulligan machine …`: provision, watch, inspect and decommission machines (MachineService).
 *
 * Watching prints one line per event, `HH:MM:SS  STATE  step  message` (UTC), on stdout with
 * table output and on stderr with json/yaml (so stdout stays one document). A machine that
 * ends ERROR while watched exits EXIT.PRECONDITION (7), like a FAILED_PRECONDITION.
 */
import { readFileSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { Command, Option } from "commander";
import type { MulliganClient } from "../../client/client.js";
import {
  GetConsoleLogResponseSchema,
  GuestPowerState,
  type Machine,
  type MachineEvent,
  MachineKind,
  MachineSchema,
  MachineState,
} from "../../gen/mulligan/control/v1/control_pb.js";
import { RequestGroupSchema } from "../../gen/mulligan/resource/v1/resource_pb.js";
import { type GlobalOptions, requestId, withClient } from "../context.js";
import { EXIT, UsageError } from "../exit-codes.js";
import { collectPages, limitOf, withLimit, withRequestId } from "../options.js";
import {
  type Column,
  messageJson,
  printDocument,
  printList,
  printOne,
  time,
  write,
} from "../output.js";
import { collect, count, enumChoices, enumValue } from "../parse.js";
import { type DistanceFlags, distanceOf, withDistanceFlags } from "../query-flags.js";
import { capabilitiesOf, resourcesOf } from "../resource-values.js";
import { amounts } from "./claim.js";

/** A machine state by its short upper-case name ("ACTIVE"). */
export function stateName(state: MachineState): string {
  return MachineState[state] ?? String(state);
}

/** The guest's observed power and when it was seen ("STOPPED since …"), "" before any report. */
function powerOf(m: Machine): string {
  if (m.powerState === GuestPowerState.UNSPECIFIED) return "";
  return `${GuestPowerState[m.powerState] ?? m.powerState} since ${time(m.powerStateTime)}`;
}

/** The total of one resource class over the machine's request groups. */
function requested(m: Machine, cls: string): bigint {
  let sum = 0n;
  for (const g of m.spec?.groups ?? []) sum += g.resources[cls] ?? 0n;
  return sum;
}

/** `256 MB`, or "" when nothing of the class was asked for. */
function sized(n: bigint, unit: string): string {
  return n === 0n ? "" : `${n} ${unit}`;
}

const MACHINE_COLUMNS: Column<Machine>[] = [
  { header: "NAME", value: (m) => m.name },
  { header: "STATE", value: (m) => stateName(m.state) },
  { header: "HOST", value: (m) => m.hostName },
  { header: "IMAGE", value: (m) => m.imageName },
  { header: "VCPU", value: (m) => String(requested(m, "VCPU") || "") },
  { header: "MEMORY", value: (m) => sized(requested(m, "MEMORY_MB"), "MB") },
  { header: "PROJECT", value: (m) => m.projectName },
  { header: "UUID", value: (m) => m.uuid },
];

/** Rows of the key/value view of one machine. */
const MACHINE_DETAIL: Column<Machine>[] = [
  { header: "name", value: (m) => m.name },
  { header: "uuid", value: (m) => m.uuid },
  { header: "state", value: (m) => stateName(m.state) },
  { header: "power", value: powerOf },
  { header: "message", value: (m) => m.message },
  { header: "failed step", value: (m) => m.failedStep },
  { header: "reason", value: (m) => m.reason },
  { header: "project", value: (m) => m.projectName },
  { header: "region", value: (m) => m.regionName },
  { header: "image", value: (m) => m.imageName },
  { header: "host", value: (m) => m.hostName },
  {
    header: "resources",
    value: (m) =>
      (m.spec?.groups ?? [])
        .map((g) => `${g.suffix ? `${g.suffix}: ` : ""}${amounts(g.resources)}`)
        .join("\n"),
  },
  {
    header: "required",
    value: (m) => (m.spec?.groups ?? []).flatMap((g) => g.required).join("\n"),
  },
  {
    header: "attempts",
    value: (m) =>
      m.attempts
        .map((a) => {
          const failed = a.failedStep ? ` failed at ${a.failedStep}: ${a.reason} ${a.message}` : "";
          return `#${a.number} ${a.hostName || a.hostUuid}${failed}`.trimEnd();
        })
        .join("\n"),
  },
  {
    header: "allocations",
    value: (m) => m.allocations.map((a) => `${a.providerName}: ${amounts(a.resources)}`).join("\n"),
  },
  { header: "created", value: (m) => time(m.createTime) },
  { header: "updated", value: (m) => time(m.updateTime) },
];

/** One event as a line: `HH:MM:SS  STATE  step  message [REASON]`. */
export function eventLine(e: MachineEvent): string {
  const at = e.time ? timestampDate(e.time).toISOString().slice(11, 19) : "--:--:--";
  const reason = e.reason ? ` [${e.reason}]` : "";
  return `${at}  ${stateName(e.state).padEnd(15)}  ${e.step.padEnd(12)}  ${e.message}${reason}`;
}

/** Prints an event line where the output format wants it (see the header). */
function printEvent(format: GlobalOptions["output"], e: MachineEvent): void {
  const line = `${eventLine(e)}\n`;
  if (format === "table") process.stdout.write(line);
  else process.stderr.write(line);
}

/**
 * Streams the machine's events (from the start) until `done` says so or the stream ends
 * (DELETED), printing those `show` accepts. Ctrl-C ends the watch with exit 130. Returns the
 * machine after the last event, or undefined when interrupted or nothing came.
 */
async function watch(
  client: MulliganClient,
  format: GlobalOptions["output"],
  machine: string,
  done: (m: Machine, e: MachineEvent) => boolean,
  show: (e: MachineEvent) => boolean = () => true,
): Promise<Machine | undefined> {
  const abort = new AbortController();
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
    abort.abort();
  };
  process.once("SIGINT", onSigint);
  let last: Machine | undefined;
  try {
    // No deadline: a watch lasts as long as the machine does.
    const stream = client.machines.watchMachine(
      { machine },
      { signal: abort.signal, timeoutMs: 0 },
    );
    for await (const res of stream) {
      if (res.event && show(res.event)) printEvent(format, res.event);
      last = res.machine ?? last;
      if (res.event && last && done(last, res.event)) {
        abort.abort(); // ends the call at once
        break;
      }
    }
  } catch (err) {
    if (interrupted && ConnectError.from(err).code === Code.Canceled) {
      process.exitCode = 130;
      return undefined;
    }
    throw err;
  } finally {
    process.off("SIGINT", onSigint);
  }
  return last;
}

/** Reports a machine that ended ERROR: one line on stderr and exit 7. */
function failed(m: Machine): void {
  const step = m.failedStep ? ` at step ${m.failedStep}` : "";
  process.stderr.write(
    `error: machine ${m.name} is ERROR: ${m.reason || "FAILED"}${step}: ${m.message}\n`,
  );
  process.exitCode = EXIT.PRECONDITION;
}

/** A whole number option of at least `min`. */
function atLeast(text: string, what: string, min: number): bigint {
  const n = count(text, what);
  if (n < min) throw new UsageError(`${what} must be at least ${min}`);
  return BigInt(n);
}

/** A local file's text, or a usage error naming the option. */
function readText(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(`${what} ${path}: ${(err as Error).message}`);
  }
}

/** The OpenSSH public keys of the files: each non-empty line that is not a # comment. */
function sshKeysOf(files: readonly string[]): string[] {
  return files.flatMap((f) =>
    readText(f, "--ssh-key-file")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#")),
  );
}

interface CreateOptions extends DistanceFlags {
  image: string;
  vcpus: string;
  memory: string;
  disk: string;
  resource?: string[];
  require?: string[];
  project?: string;
  region?: string;
  sshKeyFile?: string[];
  userDataFile?: string;
  requestId?: string;
  watch?: boolean;
  kind: "vm" | "baremetal";
  flavor?: string;
}

/** A bare-metal machine's group: one whole node of the flavor, with the required capabilities. */
function nodeGroupOf(o: CreateOptions) {
  const flavor = (o.flavor ?? "").trim().toUpperCase();
  if (!/^[A-Z0-9_]{1,40}$/.test(flavor))
    throw new UsageError("--kind baremetal needs --flavor NAME (the node's CUSTOM_BAREMETAL_NAME)");
  return create(RequestGroupSchema, {
    resources: { [`CUSTOM_BAREMETAL_${flavor}`]: 1n },
    required: (o.require ?? []).flatMap((t) => capabilitiesOf(t, "--require")),
  });
}

/** The flags' one unnamed request group. */
function groupOf(o: CreateOptions) {
  if (o.kind === "baremetal") return nodeGroupOf(o);
  const resources: Record<string, bigint> = {
    VCPU: atLeast(o.vcpus, "--vcpus", 1),
    MEMORY_MB: atLeast(o.memory, "--memory", 1),
  };
  const disk = BigInt(count(o.disk, "--disk"));
  if (disk > 0n) resources.DISK_GB = disk;
  for (const text of o.resource ?? []) {
    for (const [cls, amount] of Object.entries(resourcesOf(text, "--resource"))) {
      const own = { VCPU: "--vcpus", MEMORY_MB: "--memory", DISK_GB: "--disk" }[cls];
      if (own) throw new UsageError(`--resource ${cls}: give it as ${own}`);
      if (cls in resources) throw new UsageError(`--resource names ${cls} twice`);
      resources[cls] = amount;
    }
  }
  return create(RequestGroupSchema, {
    resources,
    required: (o.require ?? []).flatMap((t) => capabilitiesOf(t, "--require")),
  });
}

/** The `machine` command group. */
export function machineCommand(): Command {
  const machine = new Command("machine").description(
    "provision, watch and decommission machines (virtual machines and bare-metal nodes)",
  );

  withRequestId(
    withDistanceFlags(
      machine
        .command("create <name>")
        .description("provision a machine; it is recorded PENDING and built in the background")
        .requiredOption("--image <image>", "image to boot (name or UUID)")
        .addOption(
          new Option("--kind <kind>", "a virtual machine or a whole bare-metal node")
            .choices(["vm", "baremetal"])
            .default("vm"),
        )
        .option("--flavor <name>", "baremetal: the node flavor (CUSTOM_BAREMETAL_<NAME>)")
        .option("--vcpus <n>", "virtual CPUs", "1")
        .option("--memory <mb>", "memory in MB", "256")
        .option("--disk <gb>", "root disk in GB (0: none)", "1")
        .option("--resource <list>", "more resources CLASS=N,… (repeatable)", collect)
        .option("--require <caps>", "capabilities A,B the host must have (repeatable)", collect)
        .option("--project <project>", "owning project (default: the token's)")
        .option("--region <region>", "only hosts in this region or below")
        .option("--ssh-key-file <path>", "OpenSSH public keys, one a line (repeatable)", collect)
        .option("--user-data-file <path>", "cloud-init user-data, passed through unchanged")
        .option(
          "--watch",
          "print the machine's events until it is ACTIVE or ERROR, then the machine (exit 7 on ERROR)",
        ),
      "the machines with UUIDs m1,m2",
    ),
  ).action(async (name: string, o: CreateOptions, cmd: Command) => {
    const request = {
      requestId: requestId(o),
      spec: {
        name,
        project: o.project ?? "",
        region: o.region ?? "",
        kind: o.kind === "baremetal" ? MachineKind.BAREMETAL : MachineKind.VM,
        groups: [groupOf(o)],
        distance: distanceOf(o),
        image: o.image,
        sshKeys: sshKeysOf(o.sshKeyFile ?? []),
        userData: o.userDataFile === undefined ? "" : readText(o.userDataFile, "--user-data-file"),
      },
    };
    await withClient(cmd, async (client, g) => {
      const res = await client.machines.provision(request);
      let m = res.machine;
      if (!m) return;
      if (o.watch) {
        const ended = (_x: Machine, e: MachineEvent) =>
          e.state === MachineState.ACTIVE || e.state === MachineState.ERROR;
        const last = await watch(client, g.output, m.uuid, ended);
        if (!last) return;
        m = last;
      }
      printOne(g.output, MachineSchema, m, MACHINE_DETAIL);
      if (o.watch && m.state === MachineState.ERROR) failed(m);
    });
  });

  withLimit(
    machine
      .command("list")
      .description("list machines (without DELETED ones unless --all)")
      .option("--state <state>", `only machines in this state: ${enumChoices(MachineState)}`)
      .option("--all", "include DELETED machines"),
  ).action(async (o: { state?: string; all?: boolean; limit?: number }, cmd: Command) => {
    const state =
      o.state === undefined
        ? MachineState.UNSPECIFIED
        : enumValue(MachineState, o.state, "--state");
    await withClient(cmd, async (client, g) => {
      const rows = await collectPages(limitOf(o), async (pageSize, pageToken) => {
        const res = await client.machines.listMachines({
          pageSize,
          pageToken,
          state,
          showDeleted: o.all === true || state === MachineState.DELETED,
        });
        return { items: res.machines, nextPageToken: res.nextPageToken };
      });
      printList(g.output, MachineSchema, rows, MACHINE_COLUMNS);
    });
  });

  machine
    .command("show <machine>")
    .description("show a machine (name or UUID)")
    .action(async (ref: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const res = await client.machines.getMachine({ machine: ref });
        if (res.machine) printOne(g.output, MachineSchema, res.machine, MACHINE_DETAIL);
      }),
    );

  machine
    .command("watch <machine>")
    .description("print the machine's events, past and new, until it is DELETED (or Ctrl-C)")
    .action(async (ref: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        await watch(client, g.output, ref, () => false);
      }),
    );

  machine
    .command("console <machine>")
    .description("print the tail of the machine's serial console, as its executor last saw it")
    .option("--bytes <n>", "at most this many bytes from the end (default and maximum 65536)")
    .action(async (ref: string, o: { bytes?: string }, cmd: Command) => {
      const maxBytes = o.bytes === undefined ? 0 : Number(atLeast(o.bytes, "--bytes", 1));
      await withClient(cmd, async (client, g) => {
        const res = await client.machines.getConsoleLog({ machine: ref, maxBytes });
        if (g.output === "table") process.stdout.write(res.text);
        else printOne(g.output, GetConsoleLogResponseSchema, res, []);
      });
    });

  withRequestId(
    machine
      .command("delete <machine>")
      .description("decommission a machine: tear it down and release its resources")
      .option("--wait", "print the teardown's events until the machine is DELETED"),
  ).action(async (ref: string, o: { wait?: boolean; requestId?: string }, cmd: Command) =>
    withClient(cmd, async (client, g) => {
      const res = await client.machines.decommission({ requestId: requestId(o), machine: ref });
      let m = res.machine;
      if (!m) return;
      if (o.wait) {
        // The history is replayed first: show the teardown only.
        let teardown = false;
        const show = (e: MachineEvent) => {
          teardown ||= e.state === MachineState.DECOMMISSIONING || e.state === MachineState.DELETED;
          return teardown;
        };
        const ended = (_x: Machine, e: MachineEvent) =>
          teardown && (e.state === MachineState.DELETED || e.state === MachineState.ERROR);
        const last = await watch(client, g.output, m.uuid, ended, show);
        if (!last) return;
        m = last;
      }
      if (g.output !== "table") printDocument(g.output, messageJson(MachineSchema, m));
      else if (m.state === MachineState.DELETED) write(`deleted machine ${m.name}`);
      else write(`machine ${m.name} is ${stateName(m.state)}: ${m.message}`);
      if (o.wait && m.state === MachineState.ERROR) failed(m);
    }),
  );

  return machine;
}

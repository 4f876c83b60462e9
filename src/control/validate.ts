/**
 * Every control request decoded in one place: proto request → plain domain input, with all
 * field violations of a request reported together (INVALID_ARGUMENT + BadRequest).
 */
import { toJson } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  type DecommissionRequest,
  type DeleteImageRequest,
  type GetConsoleLogRequest,
  ImageFormat,
  type LeaseTasksRequest,
  type ListImagesRequest,
  type ListMachinesRequest,
  MachineKind,
  MachineState,
  type ProvisionRequest,
  type RegisterImageRequest,
  type ReportTaskRequest,
  type WatchMachineRequest,
} from "../gen/mulligan/control/v1/control_pb.js";
import { PowerState } from "../gen/mulligan/control/v1/node_pb.js";
import {
  type DistanceConstraint,
  DistanceConstraint_Relation,
  GroupLevel,
  RequestGroupSchema,
} from "../gen/mulligan/resource/v1/resource_pb.js";
import { isUuid, Violations } from "../platform/validate.js";
import type { RegisterImageInput } from "./images.js";
import type { ListMachinesInput, ProvisionInput } from "./machines.js";
import type {
  ImageSource,
  MachineKind as KindName,
  MachineDistance,
  MachineState as StateName,
} from "./model.js";
import type { NodeInventory } from "./node-model.js";
import { MAC } from "./node-validate.js";
import {
  DEFAULT_LEASE_WAIT_SECONDS,
  type LeaseInput,
  MAX_CONSOLE_BYTES,
  MAX_LEASE_WAIT_MS,
  type ReportInput,
} from "./tasks.js";

const SHA256 = /^[0-9a-f]{64}$/;
const SSH_KEY =
  /^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+) [A-Za-z0-9+/=]+( .*)?$/;
/** Host names: one DNS label. */
const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const MAX_USER_DATA = 64 * 1024;
/** Distance constraints per machine, and machines per constraint. */
const MAX_DISTANCE = 8;
const MAX_DISTANCE_CONSUMERS = 64;
const STEP = /^[a-z][a-z0-9-]{0,31}$/;
const REASON = /^[A-Z][A-Z0-9_]{0,63}$/;

const KINDS: Record<number, KindName> = {
  [MachineKind.VM]: "VM",
  [MachineKind.BAREMETAL]: "BAREMETAL",
};
const LEVELS: Record<number, MachineDistance["level"]> = {
  [GroupLevel.RACK]: "rack",
  [GroupLevel.ROW]: "row",
  [GroupLevel.SITE]: "site",
};
const STATES: Record<number, StateName> = {
  [MachineState.PENDING]: "PENDING",
  [MachineState.SCHEDULING]: "SCHEDULING",
  [MachineState.PROVISIONING]: "PROVISIONING",
  [MachineState.ACTIVE]: "ACTIVE",
  [MachineState.DECOMMISSIONING]: "DECOMMISSIONING",
  [MachineState.DELETED]: "DELETED",
  [MachineState.ERROR]: "ERROR",
};

export function decodeProvision(req: ProvisionRequest): ProvisionInput {
  return Violations.decode((v) => {
    const s = req.spec;
    if (!s) v.add("spec", "FIELD_REQUIRED", "is required");
    const name = v.name("spec.name", s?.name ?? "");
    if (name !== "" && !HOSTNAME.test(name))
      v.add(
        "spec.name",
        "NAME_INVALID",
        "must be a host name: letters, digits and '-' (no '.' or '_')",
      );
    const kind = v.enumValue<MachineKind>("spec.kind", s?.kind ?? 0, MachineKind, false);
    const groups = s?.groups ?? [];
    if (groups.length === 0) v.add("spec.groups", "FIELD_REQUIRED", "must ask for resources");
    const has = (cls: string) => groups.some((g) => (g.resources[cls] ?? 0n) > 0n);
    if (kind === MachineKind.BAREMETAL) {
      // A whole node: one unit of its CUSTOM_BAREMETAL_<FLAVOR> class, nothing else.
      const classes = groups.flatMap((g) => Object.entries(g.resources));
      const node = classes.filter(([c]) => c.startsWith("CUSTOM_BAREMETAL_"));
      if (groups.length > 0 && (node.length !== 1 || classes.length !== 1 || node[0]?.[1] !== 1n))
        v.add(
          "spec.groups",
          "RESOURCES_INCOMPLETE",
          "a bare-metal machine asks for exactly one unit of one CUSTOM_BAREMETAL_<FLAVOR> class",
        );
    } else if (groups.length > 0 && (!has("VCPU") || !has("MEMORY_MB")))
      v.add("spec.groups", "RESOURCES_INCOMPLETE", "a virtual machine needs VCPU and MEMORY_MB");
    const sshKeys = (s?.sshKeys ?? []).map((k, i) => {
      if (!SSH_KEY.test(k.trim()))
        v.add(`spec.ssh_keys[${i}]`, "SSH_KEY_INVALID", "is not an OpenSSH public key");
      return k.trim();
    });
    const userData = s?.userData ?? "";
    if (Buffer.byteLength(userData) > MAX_USER_DATA)
      v.add("spec.user_data", "FIELD_TOO_LONG", `must be at most ${MAX_USER_DATA} bytes`);
    const input: ProvisionInput = {
      name,
      kind: KINDS[kind] ?? "VM",
      groups: groups.map((g) => toJson(RequestGroupSchema, g) as Record<string, unknown>),
      distance: distanceOf(v, s?.distance ?? []),
      image: v.ref("spec.image", s?.image ?? "", true),
      sshKeys,
      userData,
    };
    const requestId = v.requestId("request_id", req.requestId);
    if (requestId !== undefined) input.requestId = requestId;
    const project = v.optionalRef("spec.project", s?.project ?? "");
    if (project !== undefined) input.project = project;
    const region = v.optionalRef("spec.region", s?.region ?? "");
    if (region !== undefined) input.region = region;
    return input;
  });
}

/**
 * spec.distance, checked as the resource engine checks a query's (a relation, a level of RACK,
 * ROW or SITE, at least one consumer UUID); that the consumers are machines the caller may see
 * is provision's check.
 */
function distanceOf(v: Violations, list: readonly DistanceConstraint[]): MachineDistance[] {
  if (list.length > MAX_DISTANCE)
    v.add("spec.distance", "TOO_MANY_ENTRIES", `must hold at most ${MAX_DISTANCE} constraints`);
  return list.map((d, i) => {
    const path = `spec.distance[${i}]`;
    v.enumValue(`${path}.relation`, d.relation, DistanceConstraint_Relation, true);
    const level = LEVELS[d.level];
    if (!level) v.add(`${path}.level`, "FIELD_REQUIRED", "must be RACK, ROW or SITE");
    if (d.consumers.length === 0)
      v.add(`${path}.consumers`, "FIELD_REQUIRED", "name at least one machine UUID");
    else if (d.consumers.length > MAX_DISTANCE_CONSUMERS)
      v.add(
        `${path}.consumers`,
        "TOO_MANY_ENTRIES",
        `must hold at most ${MAX_DISTANCE_CONSUMERS} machines`,
      );
    for (const [j, c] of d.consumers.entries())
      if (!isUuid(c)) v.add(`${path}.consumers[${j}]`, "UUID_INVALID", "must be a machine UUID");
    return {
      relation: d.relation === DistanceConstraint_Relation.DIFFERENT ? "different" : "same",
      level: level ?? "rack",
      consumers: [...new Set(d.consumers.map((c) => c.toLowerCase()))],
    };
  });
}

export function decodeMachineRef(req: { machine: string }): string {
  return Violations.decode((v) => v.ref("machine", req.machine, true));
}

export function decodeListMachines(req: ListMachinesRequest): ListMachinesInput {
  return Violations.decode((v) => {
    const state = v.enumValue<MachineState>("state", req.state, MachineState, false);
    const page = v.page(req);
    const input: ListMachinesInput = { ...page, showDeleted: req.showDeleted };
    const name = STATES[state];
    if (name) input.state = name;
    return input;
  });
}

export function decodeWatchMachine(req: WatchMachineRequest) {
  return Violations.decode((v) => {
    if (req.afterSequence < 0n) v.add("after_sequence", "FIELD_INVALID", "must not be negative");
    return { machine: v.ref("machine", req.machine, true), afterSeq: Number(req.afterSequence) };
  });
}

export function decodeDecommission(req: DecommissionRequest) {
  return Violations.decode((v) => {
    const requestId = v.requestId("request_id", req.requestId);
    const machine = v.ref("machine", req.machine, true);
    return requestId === undefined ? { machine } : { requestId, machine };
  });
}

export function decodeConsoleLog(req: GetConsoleLogRequest) {
  return Violations.decode((v) => {
    if (req.maxBytes < 0 || req.maxBytes > MAX_CONSOLE_BYTES)
      v.add("max_bytes", "FIELD_INVALID", `must be between 0 and ${MAX_CONSOLE_BYTES}`);
    return {
      machine: v.ref("machine", req.machine, true),
      maxBytes: req.maxBytes === 0 ? MAX_CONSOLE_BYTES : req.maxBytes,
    };
  });
}

function sha(v: Violations, field: string, value: string): string {
  if (!SHA256.test(value)) v.add(field, "SHA256_INVALID", "must be 64 lower-case hex digits");
  return value;
}

function location(v: Violations, field: string, value: string): string {
  if (value === "") v.add(field, "FIELD_REQUIRED", "is required");
  else if (!value.startsWith("/") && !/^https?:\/\//.test(value))
    v.add(field, "SOURCE_INVALID", "must be an absolute path or an http(s) URL");
  return value;
}

export function decodeRegisterImage(req: RegisterImageRequest): RegisterImageInput {
  return Violations.decode((v) => {
    let source: ImageSource = { kind: "disk", source: "", format: "qcow2", sha256: "" };
    if (req.source.case === "disk") {
      const d = req.source.value;
      const format = v.enumValue<ImageFormat>("disk.format", d.format, ImageFormat, true);
      source = {
        kind: "disk",
        source: location(v, "disk.source", d.source),
        format: format === ImageFormat.RAW ? "raw" : "qcow2",
        sha256: sha(v, "disk.sha256", d.sha256),
      };
    } else if (req.source.case === "kernel") {
      const k = req.source.value;
      source = {
        kind: "kernel",
        kernel: location(v, "kernel.kernel", k.kernel),
        kernelSha256: sha(v, "kernel.kernel_sha256", k.kernelSha256),
        initrd: location(v, "kernel.initrd", k.initrd),
        initrdSha256: sha(v, "kernel.initrd_sha256", k.initrdSha256),
        cmdline: v.text("kernel.cmdline", k.cmdline, 4096),
      };
    } else v.add("source", "FIELD_REQUIRED", "must be a disk image or a kernel and initrd");
    const bootMarker = v.text("boot_marker", req.bootMarker, 256);
    try {
      new RegExp(bootMarker);
    } catch {
      v.add("boot_marker", "PATTERN_INVALID", "must be a regular expression");
    }
    const input: RegisterImageInput = { name: v.name("name", req.name), source, bootMarker };
    const requestId = v.requestId("request_id", req.requestId);
    if (requestId !== undefined) input.requestId = requestId;
    const project = v.optionalRef("project", req.project);
    if (project !== undefined) input.project = project;
    return input;
  });
}

export function decodeImageRef(req: { image: string }): string {
  return Violations.decode((v) => v.ref("image", req.image, true));
}

export function decodeListImages(req: ListImagesRequest) {
  return Violations.decode((v) => v.page(req));
}

export function decodeDeleteImage(req: DeleteImageRequest) {
  return Violations.decode((v) => {
    const requestId = v.requestId("request_id", req.requestId);
    const image = v.ref("image", req.image, true);
    return requestId === undefined ? { image } : { requestId, image };
  });
}

export function decodeLeaseTasks(req: LeaseTasksRequest): LeaseInput {
  return Violations.decode((v) => {
    if (req.hosts.length === 0)
      v.add("hosts", "FIELD_REQUIRED", "must name the hosts this executor runs");
    for (const [i, h] of req.hosts.entries()) v.ref(`hosts[${i}]`, h, true);
    const waitSeconds = req.waitSeconds ?? DEFAULT_LEASE_WAIT_SECONDS;
    if (waitSeconds < 0 || waitSeconds * 1000 > MAX_LEASE_WAIT_MS)
      v.add("wait_seconds", "FIELD_INVALID", `must be between 0 and ${MAX_LEASE_WAIT_MS / 1000}`);
    if (req.maxTasks < 0 || req.maxTasks > 64)
      v.add("max_tasks", "FIELD_INVALID", "must be between 0 and 64");
    const consoles = req.consoles.map((c, i) => ({
      machineUuid: v.ref(`consoles[${i}].machine_uuid`, c.machineUuid, true),
      text: c.text,
    }));
    if (req.conductorGroup !== "") v.name("conductor_group", req.conductorGroup);
    return {
      hosts: req.hosts,
      waitMs: waitSeconds * 1000,
      maxTasks: req.maxTasks || 4,
      consoles,
      conductorGroup: req.conductorGroup,
    };
  });
}

export function decodeReportTask(req: ReportTaskRequest): ReportInput {
  return Violations.decode((v) => {
    const step = req.step;
    if (step !== "" && !STEP.test(step))
      v.add("step", "STEP_INVALID", "must be a short lower-case step name");
    let result: ReportInput["result"] = { kind: "progress" };
    if (req.result.case === "done") result = { kind: "done" };
    else if (req.result.case === "failure") {
      const f = req.result.value;
      if (!STEP.test(f.step))
        v.add("failure.step", "STEP_INVALID", "must be a short lower-case step name");
      if (!REASON.test(f.reason))
        v.add("failure.reason", "REASON_INVALID", "must be an UPPER_SNAKE code");
      result = {
        kind: "failure",
        failure: {
          step: f.step,
          reason: f.reason,
          message: v.text("failure.message", f.message, 4096),
          hostFault: f.hostFault,
        },
      };
    }
    return {
      taskUuid: v.ref("task_uuid", req.taskUuid, true),
      leaseToken: v.ref("lease_token", req.leaseToken, true),
      step,
      message: v.text("message", req.message, 4096),
      result,
      console: req.console,
      stepAt: req.stepTime ? timestampDate(req.stepTime).toISOString() : "",
      inventory: inventoryOf(v, req.inventory),
      powerState:
        req.powerState === PowerState.ON ? "on" : req.powerState === PowerState.OFF ? "off" : "",
    };
  });
}

/** The hardware an agent reported, checked for sense (a MAC, no negative sizes). */
function inventoryOf(v: Violations, inv: ReportTaskRequest["inventory"]): NodeInventory | null {
  if (!inv) return null;
  if (inv.cpus < 0 || inv.memoryMb < 0n)
    v.add("inventory", "INVENTORY_INVALID", "counts must not be negative");
  for (const [i, n] of inv.nics.entries())
    if (!MAC.test(n.mac.toLowerCase()))
      v.add(`inventory.nics[${i}].mac`, "MAC_INVALID", "must be a MAC address");
  for (const [i, c] of inv.capabilities.entries())
    if (!CAPABILITY.test(c))
      v.add(`inventory.capabilities[${i}]`, "CAPABILITY_INVALID", "must be an UPPER_SNAKE name");
  return {
    cpus: inv.cpus,
    memoryMb: Number(inv.memoryMb),
    disks: inv.disks.map((d) => ({
      name: v.text("inventory.disks", d.name, 64),
      sizeBytes: Number(d.sizeBytes),
    })),
    nics: inv.nics.map((n) => ({ mac: n.mac.toLowerCase() })),
    capabilities: [...new Set(inv.capabilities)].sort(),
  };
}

/** A capability name as the resource engine accepts it. */
const CAPABILITY = /^[A-Z][A-Z0-9_]{0,254}$/;

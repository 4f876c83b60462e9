/**
 * The control part's vocabulary as plain data (no gRPC types): machines, their events and
 * attempts, images, and the tasks executors lease.
 */
import type { LeasedNodeTask, NodeTaskPayload } from "./node-model.js";

export type MachineState =
  | "PENDING"
  | "SCHEDULING"
  | "PROVISIONING"
  | "ACTIVE"
  | "DECOMMISSIONING"
  | "DELETED"
  | "ERROR";

export type MachineKind = "VM" | "BAREMETAL";

/** A VM guest's power as its executor last observed it ("" until the first report). */
export type GuestPower = "" | "RUNNING" | "STOPPED" | "ABSENT";

/**
 * One resource request group in the resource service's JSON form (proto3 JSON of
 * mulligan.resource.v1.RequestGroup): control stores and forwards it, the resource part judges it.
 */
export type RequestGroupJson = Record<string, unknown>;

/**
 * Affinity or anti-affinity with other machines through provider groups of one level (the
 * resource engine's distance constraint; the consumers are machine UUIDs).
 */
export interface MachineDistance {
  relation: "same" | "different";
  level: "rack" | "row" | "site";
  consumers: string[];
}

/** What the caller asked for, as stored with the machine. */
export interface MachineSpec {
  name: string;
  kind: MachineKind;
  groups: RequestGroupJson[];
  /** Empty for machines recorded before distance constraints existed. */
  distance: MachineDistance[];
  sshKeys: string[];
  userData: string;
}

/** One build attempt on one host. */
export interface Attempt {
  number: number;
  hostUuid: string;
  hostName: string;
  failedStep: string;
  reason: string;
  message: string;
}

/** Resources held by a machine on one provider. */
export interface HeldAllocation {
  providerUuid: string;
  providerName: string;
  resources: Record<string, number>;
}

export interface Machine {
  uuid: string;
  name: string;
  projectUuid: string;
  projectName: string;
  ownerUuid: string;
  regionUuid: string;
  regionName: string;
  kind: MachineKind;
  state: MachineState;
  failedStep: string;
  reason: string;
  message: string;
  imageUuid: string;
  imageName: string;
  hostUuid: string;
  hostName: string;
  spec: MachineSpec;
  allocations: HeldAllocation[];
  attempts: Attempt[];
  /** Observed only: the lifecycle state does not follow it. */
  powerState: GuestPower;
  /** When the executor observed `powerState` ("" before the first report). */
  powerStateAt: string;
  createdAt: string;
  updatedAt: string;
}

export interface MachineEvent {
  seq: number;
  at: string;
  state: MachineState;
  step: string;
  message: string;
  reason: string;
}

export type ImageSource =
  | { kind: "disk"; source: string; format: "qcow2" | "raw"; sha256: string }
  | {
      kind: "kernel";
      kernel: string;
      kernelSha256: string;
      initrd: string;
      initrdSha256: string;
      cmdline: string;
    };

export interface Image {
  uuid: string;
  name: string;
  /** "" for a fleet image. */
  projectUuid: string;
  source: ImageSource;
  bootMarker: string;
  createdAt: string;
}

/** The default boot marker: a login prompt or cloud-init's final message. */
export const DEFAULT_BOOT_MARKER = "login:|Cloud-init v\\. .* finished";

export type TaskKind =
  | "BUILD_VM"
  | "DESTROY_VM"
  | "VERIFY_NODE"
  | "INSPECT_NODE"
  | "CLEAN_NODE"
  | "DEPLOY_NODE"
  | "UNDEPLOY_NODE"
  | "SYNC_POWER";
export type TaskState = "ready" | "leased" | "done" | "failed" | "cancelled";

/** The guest a BUILD_VM task builds (the executor's input). */
export interface GuestPayload {
  machineUuid: string;
  hostname: string;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  image: Image;
  sshKeys: string[];
  userData: string;
}

export interface Task {
  uuid: string;
  kind: TaskKind;
  machineUuid: string;
  hostUuid: string;
  state: TaskState;
  guest: GuestPayload | null;
  /** The bare-metal node of a node task ("" otherwise). */
  nodeUuid: string;
  /** A node task's payload; opened (BMC password included) only when leased. */
  node: NodeTaskPayload | LeasedNodeTask | null;
  leaseToken: string;
  leaseUntil: string;
  deliveries: number;
  createdAt: string;
  /** The last lease, renewal or report (or the queueing). */
  updatedAt: string;
}

/** How a task ended badly, as an executor reports it. */
export interface TaskFailure {
  step: string;
  reason: string;
  message: string;
  hostFault: boolean;
}

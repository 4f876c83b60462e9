/**
 * Bare-metal nodes as plain data (no gRPC types): the node record, its BMC without secrets,
 * the hardware its agent found, and the payload a node task carries to its conductor.
 */
import type { Image } from "./model.js";

/** Ironic's provision states, with one failure state per step. */
export type NodeState =
  | "ENROLLED"
  | "VERIFYING"
  | "VERIFY_FAILED"
  | "MANAGEABLE"
  | "INSPECTING"
  | "INSPECT_FAILED"
  | "CLEANING"
  | "CLEAN_FAILED"
  | "AVAILABLE"
  | "DEPLOYING"
  | "DEPLOY_FAILED"
  | "ACTIVE";

export type PowerState = "on" | "off" | "";

/** How to reach the BMC; the password is kept apart (sealed) and never part of this record. */
export interface BmcInfo {
  driver: "ipmi" | "redfish";
  address: string;
  port: number;
  username: string;
  cipherSuite: number;
  verifyTls: boolean;
  scheme: "http" | "https";
  systemPath: string;
}

/** The hardware as the deploy agent reported it. */
export interface NodeInventory {
  cpus: number;
  memoryMb: number;
  disks: { name: string; sizeBytes: number }[];
  nics: { mac: string }[];
  /** Standard capabilities the hardware shows (CPU architecture and flags), sorted. */
  capabilities: string[];
}

/** Why the node's last step failed. */
export interface NodeError {
  step: string;
  reason: string;
  message: string;
}

export interface Node {
  uuid: string;
  name: string;
  regionUuid: string;
  regionName: string;
  state: NodeState;
  /** Where the running step leads ("" when idle). */
  targetState: NodeState | "";
  /** The failure state of the last failed step ("" if none since). */
  failedState: NodeState | "";
  lastError: NodeError | null;
  powerState: PowerState;
  targetPowerState: PowerState;
  /**
   * When the power was last checked (a node task ended, or a power sync was queued); an idle
   * node's power is synced again a sync interval after it (node-power-sync.ts).
   */
  powerCheckedAt: string;
  /** Power syncs that failed in a row; reset by the next power read. */
  powerSyncFailures: number;
  maintenance: boolean;
  maintenanceReason: string;
  inventory: NodeInventory | null;
  /** CUSTOM_BAREMETAL_<FLAVOR>. */
  resourceClass: string;
  bmc: BmcInfo;
  bootMacs: string[];
  properties: Record<string, string>;
  conductorGroup: string;
  /** The machine on the node (DEPLOYING, ACTIVE, and while it is cleaned after). */
  machineUuid: string;
  message: string;
  createdAt: string;
  updatedAt: string;
}

/** What a node task's row stores; the BMC and MACs are added from the node when leased. */
export interface NodeTaskPayload {
  nodeUuid: string;
  image?: Image;
  hostname?: string;
  sshKeys?: string[];
  userData?: string;
}

/** A node task as its conductor receives it (the password opened from its sealed form). */
export interface LeasedNodeTask extends NodeTaskPayload {
  nodeName: string;
  bmc: BmcInfo & { password: string };
  bootMacs: string[];
}

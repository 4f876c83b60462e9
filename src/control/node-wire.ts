/**
 * Node records → NodeService messages, and a leased node task → its NodeTask payload. The
 * node message never carries the BMC password; only the task payload for a conductor does.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { NodeTask as NodeTaskMessage } from "../gen/mulligan/control/v1/control_pb.js";
import { NodeTaskSchema } from "../gen/mulligan/control/v1/control_pb.js";
import {
  type Bmc,
  BmcDriver,
  BmcSchema,
  type Node as NodeMessage,
  NodeSchema,
  NodeState,
  PowerState,
} from "../gen/mulligan/control/v1/node_pb.js";
import type { BmcInfo, LeasedNodeTask, Node, NodeTaskPayload } from "./node-model.js";
import { imageMessage } from "./wire.js";

const time = (iso: string) => timestampFromDate(new Date(iso));

/** Power state → proto (unknown stays UNSPECIFIED). */
export function powerMessage(p: Node["powerState"]): PowerState {
  return p === "on" ? PowerState.ON : p === "off" ? PowerState.OFF : PowerState.UNSPECIFIED;
}

function bmcMessage(b: BmcInfo, password = ""): Bmc {
  return create(BmcSchema, {
    driver: b.driver === "redfish" ? BmcDriver.REDFISH : BmcDriver.IPMI,
    address: b.address,
    port: b.port,
    username: b.username,
    password,
    cipherSuite: b.cipherSuite,
    skipTlsVerify: !b.verifyTls,
    scheme: b.scheme,
    systemPath: b.systemPath,
  });
}

const state = (s: Node["state"] | "") => (s === "" ? NodeState.UNSPECIFIED : NodeState[s]);

export function nodeMessage(n: Node): NodeMessage {
  return create(NodeSchema, {
    uuid: n.uuid,
    name: n.name,
    regionUuid: n.regionUuid,
    regionName: n.regionName,
    state: state(n.state),
    targetState: state(n.targetState),
    failedState: state(n.failedState),
    ...(n.lastError ? { lastError: n.lastError } : {}),
    powerState: powerMessage(n.powerState),
    targetPowerState: powerMessage(n.targetPowerState),
    maintenance: n.maintenance,
    maintenanceReason: n.maintenanceReason,
    ...(n.inventory
      ? {
          inventory: {
            cpus: n.inventory.cpus,
            memoryMb: BigInt(n.inventory.memoryMb),
            disks: n.inventory.disks.map((d) => ({ name: d.name, sizeBytes: BigInt(d.sizeBytes) })),
            nics: n.inventory.nics,
            capabilities: n.inventory.capabilities,
          },
        }
      : {}),
    resourceClass: n.resourceClass,
    providerUuid: n.uuid,
    // Write-only: the password is never part of a node message.
    bmc: bmcMessage(n.bmc),
    bootMacs: n.bootMacs,
    properties: n.properties,
    conductorGroup: n.conductorGroup,
    machineUuid: n.machineUuid,
    message: n.message,
    createTime: time(n.createdAt),
    updateTime: time(n.updatedAt),
  });
}

/** The payload of a leased node task (with the BMC password when opened for a conductor). */
export function nodeTaskMessage(t: NodeTaskPayload | LeasedNodeTask): NodeTaskMessage {
  const leased = "bmc" in t ? t : undefined;
  return create(NodeTaskSchema, {
    nodeUuid: t.nodeUuid,
    nodeName: leased?.nodeName ?? "",
    ...(leased ? { bmc: bmcMessage(leased.bmc, leased.bmc.password) } : {}),
    bootMacs: leased?.bootMacs ?? [],
    ...(t.image ? { image: imageMessage(t.image) } : {}),
    hostname: t.hostname ?? "",
    sshKeys: t.sshKeys ?? [],
    userData: t.userData ?? "",
  });
}

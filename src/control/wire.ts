/**
 * Domain records → control messages (the encode step of service.ts).
 */
import { create, fromJson } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  ImageFormat,
  type Image as ImageMessage,
  ImageSchema,
  type MachineEvent as MachineEventMessage,
  MachineEventSchema,
  MachineKind,
  type Machine as MachineMessage,
  MachineSchema,
  MachineState,
  TaskKind,
  type Task as TaskMessage,
  TaskSchema,
} from "../gen/mulligan/control/v1/control_pb.js";
import { RequestGroupSchema } from "../gen/mulligan/resource/v1/resource_pb.js";
import type { Image, Machine, MachineEvent, MachineState as StateName, Task } from "./model.js";
import { nodeTaskMessage } from "./node-wire.js";
import { distanceConstraint } from "./placement.js";
import { powerFields } from "./power-wire.js";

const STATES: Record<StateName, MachineState> = {
  PENDING: MachineState.PENDING,
  SCHEDULING: MachineState.SCHEDULING,
  PROVISIONING: MachineState.PROVISIONING,
  ACTIVE: MachineState.ACTIVE,
  DECOMMISSIONING: MachineState.DECOMMISSIONING,
  DELETED: MachineState.DELETED,
  ERROR: MachineState.ERROR,
};

const time = (iso: string) => timestampFromDate(new Date(iso));

export function machineMessage(m: Machine): MachineMessage {
  const kind = m.kind === "BAREMETAL" ? MachineKind.BAREMETAL : MachineKind.VM;
  return create(MachineSchema, {
    uuid: m.uuid,
    name: m.name,
    projectUuid: m.projectUuid,
    projectName: m.projectName,
    regionUuid: m.regionUuid,
    regionName: m.regionName,
    kind,
    state: STATES[m.state],
    failedStep: m.failedStep,
    reason: m.reason,
    message: m.message,
    imageUuid: m.imageUuid,
    imageName: m.imageName,
    hostUuid: m.hostUuid,
    hostName: m.hostName,
    allocations: m.allocations.map((a) => ({
      providerUuid: a.providerUuid,
      providerName: a.providerName,
      resources: Object.fromEntries(Object.entries(a.resources).map(([k, v]) => [k, BigInt(v)])),
    })),
    attempts: m.attempts,
    spec: {
      name: m.spec.name,
      project: m.projectUuid,
      region: m.regionUuid,
      kind,
      groups: m.spec.groups.map((g) => fromJson(RequestGroupSchema, g as never)),
      distance: m.spec.distance.map(distanceConstraint),
      image: m.imageUuid,
      sshKeys: m.spec.sshKeys,
      userData: m.spec.userData,
    },
    createTime: time(m.createdAt),
    updateTime: time(m.updatedAt),
    ...powerFields(m),
  });
}

export function eventMessage(e: MachineEvent): MachineEventMessage {
  return create(MachineEventSchema, {
    sequence: BigInt(e.seq),
    time: time(e.at),
    state: STATES[e.state],
    step: e.step,
    message: e.message,
    reason: e.reason,
  });
}

export function imageMessage(i: Image): ImageMessage {
  const s = i.source;
  return create(ImageSchema, {
    uuid: i.uuid,
    name: i.name,
    projectUuid: i.projectUuid,
    source:
      s.kind === "disk"
        ? {
            case: "disk",
            value: {
              source: s.source,
              format: s.format === "raw" ? ImageFormat.RAW : ImageFormat.QCOW2,
              sha256: s.sha256,
            },
          }
        : {
            case: "kernel",
            value: {
              kernel: s.kernel,
              kernelSha256: s.kernelSha256,
              initrd: s.initrd,
              initrdSha256: s.initrdSha256,
              cmdline: s.cmdline,
            },
          },
    bootMarker: i.bootMarker,
    createTime: time(i.createdAt),
  });
}

export function taskMessage(t: Task): TaskMessage {
  const g = t.guest;
  return create(TaskSchema, {
    uuid: t.uuid,
    kind: TaskKind[t.kind],
    machineUuid: t.machineUuid,
    hostUuid: t.hostUuid,
    ...(g
      ? {
          guest: {
            machineUuid: g.machineUuid,
            hostname: g.hostname,
            vcpus: g.vcpus,
            memoryMb: BigInt(g.memoryMb),
            diskGb: BigInt(g.diskGb),
            image: imageMessage(g.image),
            sshKeys: g.sshKeys,
            userData: g.userData,
          },
        }
      : {}),
    ...(t.node ? { node: nodeTaskMessage(t.node) } : {}),
    leaseToken: t.leaseToken,
    leaseExpireTime: time(t.leaseUntil),
    deliveries: t.deliveries,
  });
}

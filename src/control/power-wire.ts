/**
 * GuestPowerState between the wire and the domain: ReportPowerState decoded (all its field
 * checks) and the machine's observed power encoded. Kept apart from validate.ts and wire.ts so
 * the power report stays one small concept.
 */
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  GuestPowerState,
  type Machine as MachineMessage,
  type ReportPowerStateRequest,
} from "../gen/mulligan/control/v1/control_pb.js";
import { Violations } from "../platform/validate.js";
import type { GuestPower, Machine } from "./model.js";
import type { PowerReportInput } from "./power.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const DECODED: Readonly<Record<number, PowerReportInput["power"]>> = {
  [GuestPowerState.RUNNING]: "RUNNING",
  [GuestPowerState.STOPPED]: "STOPPED",
  [GuestPowerState.ABSENT]: "ABSENT",
};

const ENCODED: Readonly<Record<GuestPower, GuestPowerState>> = {
  "": GuestPowerState.UNSPECIFIED,
  RUNNING: GuestPowerState.RUNNING,
  STOPPED: GuestPowerState.STOPPED,
  ABSENT: GuestPowerState.ABSENT,
};

export function decodeReportPowerState(req: ReportPowerStateRequest): PowerReportInput {
  return Violations.decode((v) => {
    const requestId = v.requestId("request_id", req.requestId);
    const uuid = (field: string, value: string) => {
      if (value === "") v.add(field, "FIELD_REQUIRED", "is required");
      else if (!UUID.test(value)) v.add(field, "UUID_INVALID", "must be a lower-case UUID");
      return value;
    };
    const power = DECODED[req.powerState];
    if (power === undefined)
      v.add("power_state", "POWER_STATE_INVALID", "must be RUNNING, STOPPED or ABSENT");
    const input: PowerReportInput = {
      hostUuid: uuid("host", req.host),
      machineUuid: uuid("machine_uuid", req.machineUuid),
      power: power ?? "RUNNING",
      observedAt: req.observedTime ? timestampDate(req.observedTime).toISOString() : "",
    };
    return requestId === undefined ? input : { requestId, ...input };
  });
}

/** The observed-power fields of a Machine message. */
export function powerFields(m: Machine): Pick<MachineMessage, "powerState" | "powerStateTime"> {
  return {
    powerState: ENCODED[m.powerState] ?? GuestPowerState.UNSPECIFIED,
    powerStateTime: m.powerStateAt === "" ? undefined : timestampFromDate(new Date(m.powerStateAt)),
  };
}

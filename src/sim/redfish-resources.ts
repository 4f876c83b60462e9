/**
 * The JSON documents of the Redfish emulator: a faithful subset of DMTF Redfish (DSP0266 /
 * DSP8010 schemas) — ServiceRoot, the Systems and Managers collections, one ComputerSystem, one
 * Manager with a virtual CD, the SessionService — each with its @odata.id and @odata.type, and
 * Redfish error bodies (Base message registry ids).
 */
import type { BootDevice, PowerState } from "../executor/drivers/bmc-driver.js";
import type { BootOverride } from "./sim-machine.js";

/** The reset types the emulated System accepts (what its guest can really do). */
export const RESET_TYPES = ["On", "ForceOff", "GracefulShutdown", "ForceRestart"] as const;

/** Redfish BootSourceOverrideTarget values and the node's boot devices. */
export const BOOT_TARGETS: Record<string, BootDevice | null> = {
  None: null,
  Pxe: "pxe",
  Hdd: "disk",
  Cd: "cdrom",
};

export const OVERRIDE_MODES = ["Disabled", "Once", "Continuous"] as const;

/** What the emulator says about its node. */
export interface EmulatedSystem {
  id: string;
  name: string;
  uuid: string;
  vcpus: number;
  memoryMb: number;
  macs: string[];
}

/** The virtual CD's state. */
export interface MediaState {
  image: string | null;
  writeProtected: boolean;
}

const ROOT = "/redfish/v1";
export const SESSIONS = `${ROOT}/SessionService/Sessions`;
export const MANAGER = `${ROOT}/Managers/BMC`;
export const VIRTUAL_CD = `${MANAGER}/VirtualMedia/Cd`;

export function systemPath(system: EmulatedSystem): string {
  return `${ROOT}/Systems/${system.id}`;
}

const link = (id: string) => ({ "@odata.id": id });

function collection(id: string, type: string, name: string, members: string[]) {
  return {
    "@odata.id": id,
    "@odata.type": `#${type}.${type}`,
    Name: name,
    Members: members.map(link),
    "Members@odata.count": members.length,
  };
}

export function serviceRoot(system: EmulatedSystem) {
  return {
    "@odata.id": ROOT,
    "@odata.type": "#ServiceRoot.v1_11_0.ServiceRoot",
    Id: "RootService",
    Name: "Mulligan Redfish emulator",
    RedfishVersion: "1.11.0",
    UUID: system.uuid,
    Systems: link(`${ROOT}/Systems`),
    Managers: link(`${ROOT}/Managers`),
    SessionService: link(`${ROOT}/SessionService`),
    Links: { Sessions: link(SESSIONS) },
  };
}

export const systems = (s: EmulatedSystem) =>
  collection(`${ROOT}/Systems`, "ComputerSystemCollection", "Computer Systems", [systemPath(s)]);

export const managers = () =>
  collection(`${ROOT}/Managers`, "ManagerCollection", "Managers", [MANAGER]);

export const virtualMediaCollection = () =>
  collection(`${MANAGER}/VirtualMedia`, "VirtualMediaCollection", "Virtual Media", [VIRTUAL_CD]);

export const sessions = (ids: string[]) =>
  collection(
    SESSIONS,
    "SessionCollection",
    "Sessions",
    ids.map((id) => `${SESSIONS}/${id}`),
  );

export function computerSystem(s: EmulatedSystem, power: PowerState, boot: BootOverride) {
  const target = Object.entries(BOOT_TARGETS).find(([, d]) => d === boot.target)?.[0] ?? "None";
  const path = systemPath(s);
  return {
    "@odata.id": path,
    "@odata.type": "#ComputerSystem.v1_13_0.ComputerSystem",
    Id: s.id,
    Name: s.name,
    UUID: s.uuid,
    SystemType: "Physical",
    Manufacturer: "Mulligan",
    Model: "QEMU simulated node",
    PowerState: power === "on" ? "On" : "Off",
    Status: { State: "Enabled", Health: "OK" },
    ProcessorSummary: { Count: s.vcpus },
    MemorySummary: { TotalSystemMemoryGiB: s.memoryMb / 1024 },
    Boot: {
      BootSourceOverrideEnabled: boot.mode,
      BootSourceOverrideTarget: target,
      "BootSourceOverrideTarget@Redfish.AllowableValues": Object.keys(BOOT_TARGETS),
      BootSourceOverrideMode: "Legacy",
    },
    Actions: {
      "#ComputerSystem.Reset": {
        target: `${path}/Actions/ComputerSystem.Reset`,
        "ResetType@Redfish.AllowableValues": [...RESET_TYPES],
      },
    },
    Links: { ManagedBy: [link(MANAGER)] },
  };
}

export function manager(s: EmulatedSystem) {
  return {
    "@odata.id": MANAGER,
    "@odata.type": "#Manager.v1_10_0.Manager",
    Id: "BMC",
    Name: `BMC of ${s.name}`,
    ManagerType: "BMC",
    Status: { State: "Enabled", Health: "OK" },
    VirtualMedia: link(`${MANAGER}/VirtualMedia`),
    Links: { ManagerForServers: [link(systemPath(s))] },
  };
}

export function virtualCd(media: MediaState) {
  return {
    "@odata.id": VIRTUAL_CD,
    "@odata.type": "#VirtualMedia.v1_3_0.VirtualMedia",
    Id: "Cd",
    Name: "Virtual CD",
    MediaTypes: ["CD", "DVD"],
    Image: media.image,
    ImageName: media.image ? (media.image.split("/").pop() ?? null) : null,
    Inserted: media.image !== null,
    WriteProtected: media.writeProtected,
    ConnectedVia: media.image ? "URI" : "NotConnected",
    Actions: {
      "#VirtualMedia.InsertMedia": { target: `${VIRTUAL_CD}/Actions/VirtualMedia.InsertMedia` },
      "#VirtualMedia.EjectMedia": { target: `${VIRTUAL_CD}/Actions/VirtualMedia.EjectMedia` },
    },
  };
}

export function sessionService() {
  return {
    "@odata.id": `${ROOT}/SessionService`,
    "@odata.type": "#SessionService.v1_1_8.SessionService",
    Id: "SessionService",
    Name: "Session Service",
    ServiceEnabled: true,
    SessionTimeout: 1800,
    Sessions: link(SESSIONS),
  };
}

export function session(id: string, username: string) {
  return {
    "@odata.id": `${SESSIONS}/${id}`,
    "@odata.type": "#Session.v1_3_0.Session",
    Id: id,
    Name: "User Session",
    UserName: username,
  };
}

/** A Redfish error body: `Base.1.8.<messageId>` with one extended info entry. */
export function redfishError(messageId: string, message: string) {
  const id = `Base.1.8.${messageId}`;
  return {
    error: {
      code: id,
      message,
      "@Message.ExtendedInfo": [
        {
          "@odata.type": "#Message.v1_1_1.Message",
          MessageId: id,
          Message: message,
          Severity: "Critical",
        },
      ],
    },
  };
}

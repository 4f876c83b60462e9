/**
 * NodeService requests decoded in one place: proto request → plain domain input, every field
 * violation of a request reported together (INVALID_ARGUMENT + reason + field).
 */
import {
  BmcDriver,
  type CleanNodeRequest,
  type DeleteNodeRequest,
  type EnrollNodeRequest,
  type InspectNodeRequest,
  type ListNodesRequest,
  NodeState,
  type SetMaintenanceRequest,
} from "../gen/mulligan/control/v1/node_pb.js";
import { Violations } from "../platform/validate.js";
import type { BmcInfo, NodeState as StateName } from "./node-model.js";
import type { EnrollNodeInput, ListNodesInput, NodeStepInput } from "./nodes.js";

/** A MAC address as six colon-separated hex pairs (stored lower-case). */
export const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
/** An IPv4/IPv6 literal or a DNS name. */
const ADDRESS =
  /^(\[[0-9a-fA-F:.]+\]|[0-9a-fA-F:]*:[0-9a-fA-F:.]+|[A-Za-z0-9]([A-Za-z0-9.-]{0,252}))$/;
const FLAVOR = /^[A-Z0-9_]{1,40}$/;
const PROPERTY_KEY = /^[A-Za-z][A-Za-z0-9_]{0,62}$/;
const MAX_PROPERTIES = 32;

/** The proto's node states by number (the state filter of ListNodes). */
export const NODE_STATES: Record<number, StateName> = Object.fromEntries(
  Object.entries(NodeState)
    .filter(([k, v]) => typeof v === "number" && k !== "UNSPECIFIED")
    .map(([k, v]) => [v as number, k as StateName]),
);

export function decodeEnrollNode(req: EnrollNodeRequest): EnrollNodeInput {
  return Violations.decode((v) => {
    const b = req.bmc;
    if (!b) v.add("bmc", "FIELD_REQUIRED", "is required");
    const driver = v.enumValue<BmcDriver>("bmc.driver", b?.driver ?? 0, BmcDriver, true);
    const address = b?.address ?? "";
    if (address === "") v.add("bmc.address", "FIELD_REQUIRED", "is required");
    else if (!ADDRESS.test(address))
      v.add("bmc.address", "ADDRESS_INVALID", "must be an IP address or a host name");
    const port = b?.port ?? 0;
    if (port < 0 || port > 65535) v.add("bmc.port", "PORT_INVALID", "must be between 1 and 65535");
    const username = v.text("bmc.username", b?.username ?? "", 64);
    if (username === "") v.add("bmc.username", "FIELD_REQUIRED", "is required");
    const password = b?.password ?? "";
    if (password === "") v.add("bmc.password", "FIELD_REQUIRED", "is required");
    else if (password.length > 256)
      v.add("bmc.password", "FIELD_TOO_LONG", "must be at most 256 characters");
    const cipherSuite = b?.cipherSuite ?? 0;
    if (cipherSuite < 0 || cipherSuite > 17)
      v.add("bmc.cipher_suite", "CIPHER_SUITE_INVALID", "must be an IPMI cipher suite (0–17)");
    const scheme = b?.scheme || "https";
    if (scheme !== "http" && scheme !== "https")
      v.add("bmc.scheme", "SCHEME_INVALID", 'must be "http" or "https"');
    const systemPath = v.text("bmc.system_path", b?.systemPath ?? "", 256);
    if (systemPath !== "" && !systemPath.startsWith("/redfish/v1/"))
      v.add("bmc.system_path", "PATH_INVALID", "must start with /redfish/v1/");
    const redfish = driver === BmcDriver.REDFISH;
    const bmc: BmcInfo = {
      driver: redfish ? "redfish" : "ipmi",
      address,
      port: port || (redfish ? (scheme === "http" ? 80 : 443) : 623),
      username,
      cipherSuite: cipherSuite || 3,
      verifyTls: !(b?.skipTlsVerify ?? false),
      scheme: scheme === "http" ? "http" : "https",
      systemPath,
    };
    if (req.bootMacs.length === 0)
      v.add("boot_macs", "FIELD_REQUIRED", "must name the MAC addresses the node boots from");
    const bootMacs = req.bootMacs.map((m, i) => {
      const mac = m.trim().toLowerCase().replaceAll("-", ":");
      if (!MAC.test(mac)) v.add(`boot_macs[${i}]`, "MAC_INVALID", "must be a MAC address");
      return mac;
    });
    if (new Set(bootMacs).size !== bootMacs.length)
      v.add("boot_macs", "MAC_DUPLICATE", "must not repeat an address");
    const flavor = (req.flavor || "GENERIC").toUpperCase();
    if (!FLAVOR.test(flavor)) v.add("flavor", "FLAVOR_INVALID", "must be 1–40 of A–Z, 0–9 and '_'");
    const entries = Object.entries(req.properties);
    if (entries.length > MAX_PROPERTIES)
      v.add("properties", "FIELD_TOO_LONG", `must hold at most ${MAX_PROPERTIES} entries`);
    for (const [k, value] of entries) {
      if (!PROPERTY_KEY.test(k))
        v.add(`properties[${k}]`, "PROPERTY_KEY_INVALID", "keys are letters, digits and '_'");
      v.text(`properties[${k}]`, value, 1024);
    }
    const conductorGroup = req.conductorGroup || "default";
    v.name("conductor_group", conductorGroup);
    const input: EnrollNodeInput = {
      name: v.name("name", req.name),
      region: v.ref("region", req.region, true),
      bmc,
      password,
      bootMacs,
      flavor,
      properties: { ...req.properties },
      conductorGroup,
    };
    const requestId = v.requestId("request_id", req.requestId);
    if (requestId !== undefined) input.requestId = requestId;
    return input;
  });
}

export function decodeNodeRef(req: { node: string }): string {
  return Violations.decode((v) => v.ref("node", req.node, true));
}

export function decodeListNodes(req: ListNodesRequest): ListNodesInput {
  return Violations.decode((v) => {
    const state = v.enumValue<NodeState>("state", req.state, NodeState, false);
    const input: ListNodesInput = v.page(req);
    const name = NODE_STATES[state];
    if (name) input.state = name;
    return input;
  });
}

/** InspectNode, CleanNode and DeleteNode: a node and an optional request id. */
export function decodeNodeStep(
  req: InspectNodeRequest | CleanNodeRequest | DeleteNodeRequest,
): NodeStepInput {
  return Violations.decode((v) => {
    const requestId = v.requestId("request_id", req.requestId);
    const node = v.ref("node", req.node, true);
    return requestId === undefined ? { node } : { requestId, node };
  });
}

export function decodeSetMaintenance(req: SetMaintenanceRequest) {
  return Violations.decode((v) => {
    const reason = v.text("reason", req.reason, 1024);
    if (req.maintenance && reason.trim() === "")
      v.add("reason", "FIELD_REQUIRED", "say why the node goes into maintenance");
    const requestId = v.requestId("request_id", req.requestId);
    const base = { node: v.ref("node", req.node, true), maintenance: req.maintenance, reason };
    return requestId === undefined ? base : { ...base, requestId };
  });
}

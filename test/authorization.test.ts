/**
 * The authorization matrix: every RPC of IdentityService, MetadataService and ResourceService
 * × every role (and
 * no token) → allowed or denied. The expected table is written out here, independently of the
 * policy tables under test, and every method of the service descriptors must appear in it, so
 * a new RPC cannot slip through unreviewed. A call counts as allowed when it reaches its handler
 * and does not fail with PERMISSION_DENIED or UNAUTHENTICATED (calls carry empty requests, so
 * most then fail validation); a denied call must fail with the interceptor's exact reason.
 */
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { create, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../src/gen/google/rpc/error_details_pb.js";
import {
  ExecutorService,
  ImageService,
  MachineService,
} from "../src/gen/mulligan/control/v1/control_pb.js";
import { NodeService } from "../src/gen/mulligan/control/v1/node_pb.js";
import { IdentityService } from "../src/gen/mulligan/iam/v1/iam_pb.js";
import { MetadataService } from "../src/gen/mulligan/meta/v1/meta_pb.js";
import { ResourceService } from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { forEachStore } from "./harness.js";

const WHO = ["admin", "operator", "member", "reader", "executor", "none"] as const;
type Who = (typeof WHO)[number];

const ANYONE: readonly Who[] = WHO;
const AUTHENTICATED: readonly Who[] = ["admin", "operator", "member", "reader", "executor"];
const READERS: readonly Who[] = ["admin", "operator", "member", "reader"];
const WRITERS: readonly Who[] = ["admin", "operator", "member"];
const FLEET: readonly Who[] = ["admin", "operator"];
const ADMIN: readonly Who[] = ["admin"];
/** Providers are fleet objects that executors register and read too. */
const PROVIDER_WRITERS: readonly Who[] = ["admin", "operator", "executor"];
const FLEET_READERS: readonly Who[] = ["admin", "operator", "reader", "executor"];

/** Who may call what: the contract, reviewed by hand. */
const EXPECTED: Record<string, Record<string, readonly Who[]>> = {
  [IdentityService.typeName]: {
    Bootstrap: ANYONE,
    Authenticate: ANYONE,
    GetSigningKeys: ANYONE,
    RotateSigningKey: ADMIN,
    WhoAmI: AUTHENTICATED,
    CreateAccount: ADMIN,
    GetAccount: ADMIN,
    ListAccounts: ADMIN,
    UpdateAccount: ADMIN,
    DeleteAccount: ADMIN,
    ResetAccountSecret: AUTHENTICATED,
    CreateProject: ADMIN,
    GetProject: READERS,
    ListProjects: READERS,
    UpdateProject: ADMIN,
    DeleteProject: ADMIN,
    GrantRole: ADMIN,
    RevokeRole: ADMIN,
    ListRoleBindings: ADMIN,
    Configure: ADMIN,
  },
  [MetadataService.typeName]: {
    CreateRegion: FLEET,
    GetRegion: AUTHENTICATED,
    ListRegions: AUTHENTICATED,
    UpdateRegion: FLEET,
    DeleteRegion: FLEET,
    RegisterObject: WRITERS,
    GetObject: READERS,
    UpdateObject: WRITERS,
    DeleteObject: WRITERS,
    LookupObjects: READERS,
    FindObjects: READERS,
    SetTags: WRITERS,
    DefineProperty: FLEET,
    ListPropertyDefinitions: READERS,
    DeletePropertyDefinition: FLEET,
    SetProperties: WRITERS,
    Configure: ADMIN,
  },
  [ResourceService.typeName]: {
    ListResourceClasses: AUTHENTICATED,
    CreateResourceClass: PROVIDER_WRITERS,
    DeleteResourceClass: FLEET,
    ListCapabilities: AUTHENTICATED,
    CreateCapability: PROVIDER_WRITERS,
    DeleteCapability: FLEET,
    CreateProvider: PROVIDER_WRITERS,
    GetProvider: FLEET_READERS,
    ListProviders: FLEET_READERS,
    UpdateProvider: PROVIDER_WRITERS,
    DeleteProvider: FLEET,
    SetInventories: PROVIDER_WRITERS,
    GetInventories: FLEET_READERS,
    SetProviderCapabilities: PROVIDER_WRITERS,
    CreateProviderGroup: FLEET,
    ListProviderGroups: FLEET_READERS,
    SetProviderGroups: PROVIDER_WRITERS,
    FindCandidates: WRITERS,
    Claim: WRITERS,
    ClaimBest: WRITERS,
    Release: WRITERS,
    GetAllocations: READERS,
    ListProviderAllocations: FLEET_READERS,
    GetUsages: READERS,
    GetProviderUsages: FLEET_READERS,
    Reshape: PROVIDER_WRITERS,
    SetQuota: FLEET,
    GetQuotas: READERS,
    WatchProviders: FLEET_READERS,
    Configure: ADMIN,
  },
  [MachineService.typeName]: {
    Provision: WRITERS,
    GetMachine: READERS,
    ListMachines: READERS,
    WatchMachine: READERS,
    Decommission: WRITERS,
    GetConsoleLog: READERS,
    Configure: ADMIN,
  },
  [ImageService.typeName]: {
    RegisterImage: WRITERS,
    GetImage: READERS,
    ListImages: READERS,
    DeleteImage: WRITERS,
  },
  [ExecutorService.typeName]: {
    LeaseTasks: ["executor"],
    ReportTask: ["executor"],
    ReportPowerState: ["executor"],
  },
  [NodeService.typeName]: {
    EnrollNode: FLEET,
    GetNode: READERS,
    ListNodes: READERS,
    InspectNode: FLEET,
    CleanNode: FLEET,
    SetMaintenance: FLEET,
    DeleteNode: FLEET,
  },
};

const SERVICES: readonly DescService[] = [
  IdentityService,
  MetadataService,
  ResourceService,
  MachineService,
  ImageService,
  ExecutorService,
  NodeService,
];

/** How long a server stream runs before the matrix stops it (a denial arrives at once). */
const STREAM_PROBE_MS = 500;

/**
 * Calls a method with an empty request; for a server stream, reads until the first message
 * or error, and stops a stream still open after STREAM_PROBE_MS (it got past authorization).
 */
async function probe(
  client: Record<string, (req: unknown, opts?: { signal?: AbortSignal }) => unknown>,
  method: DescService["methods"][number],
): Promise<void> {
  const call = client[method.localName];
  assert.ok(call, `no client method ${method.localName}`);
  if (method.methodKind === "unary") {
    await call(create(method.input, {}));
    return;
  }
  assert.equal(method.methodKind, "server_streaming", "other streams need their own probe");
  const stream = call(create(method.input, {}), {
    signal: AbortSignal.timeout(STREAM_PROBE_MS),
  }) as AsyncIterable<unknown>;
  try {
    for await (const _ of stream) return;
  } catch (err) {
    const code = ConnectError.from(err).code;
    if (code !== Code.Canceled && code !== Code.DeadlineExceeded) throw err;
  }
}

test("the expected table names exactly the methods of each service", () => {
  for (const service of SERVICES) {
    const expected = Object.keys(EXPECTED[service.typeName] ?? {}).sort();
    assert.deepEqual(expected, service.methods.map((m) => m.name).sort(), service.typeName);
  }
});

forEachStore("authorization matrix", (server) => {
  const tokens = new Map<Who, string>();
  before(async () => {
    const s = server();
    // Fleet roles are global bindings; project roles are bound on one tenant project.
    tokens.set("admin", await s.tokenFor({ role: "admin", project: null }));
    tokens.set("operator", await s.tokenFor({ role: "operator", project: null }));
    tokens.set("member", await s.tokenFor({ role: "member" }));
    tokens.set("reader", await s.tokenFor({ role: "reader" }));
    tokens.set("executor", await s.tokenFor({ role: "executor", project: null, kind: "executor" }));
    tokens.set("none", "");
  });

  for (const service of SERVICES)
    for (const method of service.methods)
      test(`${service.name}.${method.name}`, async () => {
        const allowed = EXPECTED[service.typeName]?.[method.name] ?? [];
        const wrong: string[] = [];
        for (const who of WHO) {
          const client = server().client(service, tokens.get(who)) as unknown as Parameters<
            typeof probe
          >[0];
          let outcome = "OK";
          try {
            await probe(client, method);
          } catch (err) {
            const e = ConnectError.from(err);
            outcome = `${Code[e.code]}:${e.findDetails(ErrorInfoSchema)[0]?.reason ?? "?"}`;
          }
          // Unimplemented would mean the call never reached a handler: not "allowed" either. A
          // refusal by the domain with its own reason (a project reader on a fleet-wide watch)
          // means the policy table let the call through, which is what this matrix checks.
          const refused =
            outcome === "PermissionDenied:ROLE_REQUIRED" ||
            /^(Unauthenticated|Unimplemented):/.test(outcome);
          const denial =
            who === "none" ? "Unauthenticated:TOKEN_MISSING" : "PermissionDenied:ROLE_REQUIRED";
          if (allowed.includes(who) ? refused : outcome !== denial)
            wrong.push(
              `${who}: expected ${allowed.includes(who) ? "allowed" : denial}, got ${outcome}`,
            );
        }
        assert.deepEqual(wrong, []);
      });
});

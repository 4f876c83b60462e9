/**
 * The grpc-js client transport (src/client/grpcjs-transport.ts) against a real server: typed
 * unary calls with interceptors, errors decoded to the same ConnectError details as connect-node's
 * transport gives (code, reason, field), server streams with cancellation, and deadlines.
 */
import assert from "node:assert/strict";
import { after, it } from "node:test";
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcJsTransport, type GrpcJsTransport } from "../src/client/grpcjs-transport.js";
import { bearerToken } from "../src/client/interceptors.js";
import {
  Health,
  HealthCheckResponse_ServingStatus as Status,
} from "../src/gen/health/v1/health_pb.js";
import { IdentityService } from "../src/gen/mulligan/iam/v1/iam_pb.js";
import { MetadataService } from "../src/gen/mulligan/meta/v1/meta_pb.js";
import { ResourceService } from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { expectGrpcError, forEachStore } from "./harness.js";

const transports: GrpcJsTransport[] = [];
after(() => {
  for (const t of transports) t.close();
});

forEachStore("grpc-js client transport", (server) => {
  const client = <S extends DescService>(service: S, token = server().admin.token) => {
    const transport = createGrpcJsTransport({
      baseUrl: server().url,
      interceptors: token ? [bearerToken(token)] : [],
    });
    transports.push(transport);
    return createClient(service, transport);
  };

  it("answers unary calls through interceptors, and decodes code, reason and field", async () => {
    const meta = client(MetadataService);
    const { regions } = await meta.listRegions({});
    assert.ok(Array.isArray(regions));
    const who = await client(IdentityService).whoAmI({});
    assert.equal(who.account?.name, server().admin.accountName, "the bearer interceptor ran");
    await expectGrpcError(
      client(MetadataService, "").listRegions({}),
      Code.Unauthenticated,
      "TOKEN_MISSING",
    );
    await expectGrpcError(
      client(ResourceService).createResourceClass({ name: "GPU" }),
      Code.InvalidArgument,
      "CUSTOM_NAME_REQUIRED",
      "name",
    );
  });

  it("FindCandidates answers decode (by the hand-written parser) as connect-node's do", async () => {
    const res = server().client(ResourceService);
    const { region } = await server()
      .meta()
      .createRegion({ name: `grpcjs-${process.pid}` });
    for (const name of ["a", "b", "c"]) {
      const { provider: host } = await res.createProvider({
        name: `grpcjs-${process.pid}-${name}`,
        region: region?.name ?? "",
      });
      const { provider: numa } = await res.createProvider({
        name: `grpcjs-${process.pid}-${name}-numa`,
        parent: host?.uuid ?? "",
      });
      for (const [p, inventories] of [
        [host, [{ resourceClass: "DISK_GB", total: 500n }]],
        [
          numa,
          [
            { resourceClass: "VCPU", total: 16n },
            { resourceClass: "MEMORY_MB", total: 1n << 40n },
          ],
        ],
      ] as const)
        await res.setInventories({
          provider: p?.uuid ?? "",
          generation: 0n,
          inventories: [...inventories],
        });
    }
    const query = {
      groups: [{ resources: { VCPU: 2n, MEMORY_MB: 4096n, DISK_GB: 10n } }],
      region: region?.name ?? "",
    };
    for (const q of [query, { ...query, groups: [{ resources: { VCPU: 100n } }] }]) {
      const viaGrpcJs = await client(ResourceService).findCandidates({ query: q });
      const viaConnect = await res.findCandidates({ query: q });
      assert.deepStrictEqual(viaGrpcJs, viaConnect);
    }
    const found = await client(ResourceService).findCandidates({ query });
    assert.equal(found.candidates.length, 3);
    assert.equal(found.providerSummaries.length, 6);
    assert.equal(found.providerSummaries[1]?.resources[0]?.capacity, 1n << 40n);
  });

  it("streams, and a cancelled stream ends CANCELLED", async () => {
    const abort = new AbortController();
    const stream = client(Health, "").watch({ service: "" }, { signal: abort.signal });
    const iterator = stream[Symbol.asyncIterator]();
    assert.equal((await iterator.next()).value?.status, Status.SERVING);
    abort.abort();
    await assert.rejects(iterator.next(), (err) => ConnectError.from(err).code === Code.Canceled);
    const unknown = client(Health, "").watch({ service: "no.such.Service" });
    for await (const message of unknown) {
      assert.equal(message.status, Status.SERVICE_UNKNOWN);
      break;
    }
  });

  it("sends the deadline: a call that outlives it ends DEADLINE_EXCEEDED", async () => {
    // Authenticate hashes with scrypt, which takes longer than 1 ms.
    const iam = client(IdentityService, "");
    await assert.rejects(
      iam.authenticate(
        { account: server().admin.accountName, secret: server().admin.secret, project: "" },
        { timeoutMs: 1 },
      ),
      (err) => ConnectError.from(err).code === Code.DeadlineExceeded,
    );
    const ok = await iam.authenticate(
      { account: server().admin.accountName, secret: server().admin.secret, project: "" },
      { timeoutMs: 30_000 },
    );
    assert.ok(ok.token);
  });
});

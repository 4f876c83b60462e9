/**
 * The TypeScript SDK through real gRPC, on both stores: with iam and meta in two processes on
 * one store, `MulliganClient.connect` reads the catalog from either and routes each service to
 * the process that hosts it; services the catalog does not list go to the given server; the
 * token is sent; errors are described by code, reason and field; an unreachable server fails
 * UNAVAILABLE.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describeError, MulliganClient } from "../src/client/index.js";
import { Health, HealthCheckResponse_ServingStatus } from "../src/gen/health/v1/health_pb.js";
import { IdentityService } from "../src/gen/mulligan/iam/v1/iam_pb.js";
import { MetadataService } from "../src/gen/mulligan/meta/v1/meta_pb.js";
import { closedPort, STORE_KINDS, splitHosts } from "./harness.js";

for (const kind of STORE_KINDS) {
  describe(`MulliganClient routes by the catalog [${kind}]`, () => {
    const hosts = splitHosts(kind);

    it("sends each service's calls to the process that hosts it, from either address", async () => {
      const { admin, iamHost, metaHost } = hosts();
      for (const entry of [iamHost.url, metaHost.url]) {
        const client = await MulliganClient.connect({ server: entry, token: admin.token });
        try {
          assert.equal(client.endpointOf(IdentityService), iamHost.url);
          assert.equal(client.endpointOf(MetadataService), metaHost.url);
          // Each call succeeds only where its service is hosted (the other process answers
          // UNIMPLEMENTED), so these prove the routing.
          const who = await client.iam.whoAmI({});
          assert.equal(who.account?.name, admin.accountName);
          const name = `routed-${kind}-${entry.split(":").at(-1)}`;
          const created = await client.meta.createRegion({ name });
          assert.equal(created.region?.name, name);
          const { regions } = await client.meta.listRegions({});
          assert.ok(regions.some((r) => r.name === name));
        } finally {
          client.close();
        }
      }
    });

    it("reaches a service the catalog does not list through the given server", async () => {
      const { metaHost } = hosts();
      const client = await MulliganClient.connect({ server: metaHost.url.replace("http://", "") });
      try {
        assert.equal(client.serverUrl, metaHost.url);
        assert.equal(client.endpointOf(Health), metaHost.url);
        const health = await client.service(Health).check({ service: MetadataService.typeName });
        assert.equal(health.status, HealthCheckResponse_ServingStatus.SERVING);
      } finally {
        client.close();
      }
    });

    it("sends no token unless given one, and describes errors by code, reason and field", async () => {
      const { admin, iamHost } = hosts();
      const anonymous = await MulliganClient.connect({ server: iamHost.url });
      try {
        const denied = await anonymous.meta.listRegions({}).then(
          () => assert.fail("listed regions without a token"),
          (e: unknown) => describeError(e),
        );
        assert.equal(denied.code, "UNAUTHENTICATED");
      } finally {
        anonymous.close();
      }
      const client = await MulliganClient.connect({ server: iamHost.url, token: admin.token });
      try {
        const err = await client.meta.createRegion({ name: "Not A Name!" }).then(
          () => assert.fail("accepted a bad name"),
          (e: unknown) => describeError(e),
        );
        assert.equal(err.code, "INVALID_ARGUMENT");
        assert.equal(err.reason, "NAME_INVALID");
        assert.equal(err.field, "name");
        assert.match(err.message, /name/);
        const missing = await client.meta.getRegion({ region: "no-such-region" }).then(
          () => assert.fail("found a region that does not exist"),
          (e: unknown) => describeError(e),
        );
        assert.equal(`${missing.code} ${missing.reason}`, "NOT_FOUND REGION_NOT_FOUND");
      } finally {
        client.close();
      }
    });
  });
}

describe("MulliganClient.connect", () => {
  it("fails UNAVAILABLE when nothing listens at the server address", async () => {
    const port = await closedPort();
    const err = await MulliganClient.connect({ server: `127.0.0.1:${port}`, maxAttempts: 2 }).then(
      () => assert.fail("connected to a closed port"),
      (e: unknown) => describeError(e),
    );
    assert.equal(err.code, "UNAVAILABLE");
  });

  it("refuses a malformed server address", async () => {
    await assert.rejects(MulliganClient.connect({ server: "ftp://x:1" }), /not HOST:PORT/);
  });
});

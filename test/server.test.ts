/**
 * The server platform through real gRPC, on both stores: health, the catalog, the call log
 * (and that it never holds a secret), Configure, deadlines, Prometheus metrics, TLS, and two
 * processes sharing one store with iam in one and meta in the other.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { DescService } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pino from "pino";
import {
  Health,
  HealthCheckResponse_ServingStatus as Status,
} from "../src/gen/health/v1/health_pb.js";
import { CatalogService } from "../src/gen/mulligan/catalog/v1/catalog_pb.js";
import {
  ExecutorService,
  ImageService,
  MachineService,
} from "../src/gen/mulligan/control/v1/control_pb.js";
import { NodeService } from "../src/gen/mulligan/control/v1/node_pb.js";
import { AccountKind, IdentityService, Role } from "../src/gen/mulligan/iam/v1/iam_pb.js";
import { MetadataService } from "../src/gen/mulligan/meta/v1/meta_pb.js";
import { ResourceService } from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { HealthMonitor } from "../src/platform/health.js";
import { createLogger } from "../src/platform/logging.js";
import type { Store } from "../src/store/store.js";
import {
  expectGrpcError,
  type FreshStore,
  freshStore,
  STORE_KINDS,
  splitHosts,
  startHost,
  startTestServer,
  type TestServer,
} from "./harness.js";

/** A client of `service` at `url` sending `token` (none if empty). */
function clientAt<T extends DescService>(
  service: T,
  url: string,
  token = "",
  extra: { ca?: string; header?: Record<string, string> } = {},
): Client<T> {
  const headers = { ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra.header };
  return createClient(
    service,
    createGrpcTransport({
      baseUrl: url,
      nodeOptions: extra.ca ? { ca: extra.ca } : {},
      interceptors: [
        (next) => (req) => {
          for (const [k, v] of Object.entries(headers)) req.header.set(k, v);
          return next(req);
        },
      ],
    }),
  );
}

/** Prometheus samples of one metric: labels and value per line. */
function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g))
      labels[l[1] as string] = l[2] as string;
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

for (const kind of STORE_KINDS) {
  describe(`server platform [${kind}]`, () => {
    let store: FreshStore | undefined;
    let server: TestServer;
    const lines: string[] = [];
    const logged = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

    before(async () => {
      store = await freshStore(kind);
      server = await startTestServer(store.url, undefined, {
        logger: createLogger("info", { write: (s: string) => void lines.push(s) }),
        configure: (c) => {
          c.metricsListen = { host: "127.0.0.1", port: 0 };
        },
      });
    });
    after(async () => {
      await server?.stop();
      await store?.drop();
    });

    it("answers health checks without a token", async () => {
      const health = server.client(Health, "");
      const served = [
        "",
        IdentityService.typeName,
        MetadataService.typeName,
        CatalogService.typeName,
        Health.typeName,
      ];
      for (const service of served)
        assert.equal((await health.check({ service })).status, Status.SERVING, service);
      await assert.rejects(health.check({ service: "no.such.Service" }), (err: unknown) => {
        return ConnectError.from(err).code === Code.NotFound;
      });
      const { statuses } = await health.list({});
      assert.equal(statuses[MetadataService.typeName]?.status, Status.SERVING);
      assert.equal(statuses[""]?.status, Status.SERVING);
    });

    it("streams health: the current status first, SERVICE_UNKNOWN for unknown names", async () => {
      const health = server.client(Health, "");
      for (const [service, expected] of [
        ["", Status.SERVING],
        ["no.such.Service", Status.SERVICE_UNKNOWN],
      ] as const) {
        const abort = new AbortController();
        const it = health.watch({ service }, { signal: abort.signal })[Symbol.asyncIterator]();
        assert.equal((await it.next()).value?.status, expected);
        abort.abort();
        await assert.rejects(
          it.next(),
          (err: unknown) => ConnectError.from(err).code === Code.Canceled,
        );
      }
    });

    it("publishes its services in the catalog, without a token", async () => {
      const { endpoints } = await server.client(CatalogService, "").getCatalog({});
      const mine = endpoints.filter((e) => e.instanceId === server.host.catalog.instanceId);
      assert.deepEqual(mine.map((e) => e.service).sort(), [
        ExecutorService.typeName,
        ImageService.typeName,
        MachineService.typeName,
        NodeService.typeName,
        IdentityService.typeName,
        MetadataService.typeName,
        ResourceService.typeName,
      ]);
      for (const e of mine) {
        assert.equal(e.url, server.url);
        assert.ok(e.heartbeatTime && Date.now() - Number(e.heartbeatTime.seconds) * 1000 < 60_000);
      }
    });

    it("logs one line per call with method, code, request id and account, never a secret", async () => {
      const iam = server.iam();
      const name = `log-check-${kind}`;
      const requestId = `req-${kind}-log`;
      const created = await iam.createAccount({ requestId, name, kind: AccountKind.USER });
      await iam.grantRole({
        account: name,
        project: server.admin.projectName,
        role: Role.READER,
      });
      const auth = await iam.authenticate({
        account: name,
        secret: created.secret,
        project: server.admin.projectName,
      });
      await expectGrpcError(
        iam.authenticate({ account: name, secret: `${created.secret}x`, project: "" }),
        Code.Unauthenticated,
        "CREDENTIALS_INVALID",
      );
      await server.meta(auth.token).listRegions({});
      const text = lines.join("");
      for (const secret of [created.secret, auth.token, server.admin.secret, server.admin.token])
        assert.ok(!text.includes(secret), "a secret or token appears in the log");
      const calls = logged().filter((l) => l.msg === "rpc");
      const createLine = calls.find(
        (l) => l.method === "mulligan.iam.v1.IdentityService/CreateAccount",
      );
      assert.equal(createLine?.code, "OK");
      assert.equal(createLine?.requestId, requestId);
      assert.equal(createLine?.account, server.admin.accountName);
      assert.equal(typeof createLine?.ms, "number");
      const authLines = calls.filter(
        (l) => l.method === "mulligan.iam.v1.IdentityService/Authenticate",
      );
      assert.deepEqual(authLines.map((l) => l.code).slice(-2), ["OK", "UNAUTHENTICATED"]);
      const listLine = calls.findLast(
        (l) => l.method === "mulligan.meta.v1.MetadataService/ListRegions",
      );
      assert.equal(listLine?.account, name);
      assert.equal(listLine?.service, "meta");
    });

    it("lets an admin change meta's log level with Configure, and nobody else", async () => {
      const debugLines = () =>
        logged().filter(
          (l) =>
            l.msg === "rpc start" && l.method === "mulligan.meta.v1.MetadataService/ListRegions",
        );
      await server.meta().listRegions({});
      assert.equal(debugLines().length, 0, "debug lines before Configure");
      const member = await server.tokenFor({ role: "member" });
      await expectGrpcError(
        server
          .meta(member)
          .configure({ settings: { logLevel: "debug" }, updateMask: { paths: ["log_level"] } }),
        Code.PermissionDenied,
        "ROLE_REQUIRED",
      );
      const changed = await server
        .meta()
        .configure({ settings: { logLevel: "debug" }, updateMask: { paths: ["log_level"] } });
      assert.equal(changed.settings?.logLevel, "debug");
      await server.meta().listRegions({});
      assert.equal(debugLines().length, 1, "meta logs at debug after Configure");
      await server.iam().whoAmI({});
      assert.ok(
        !logged().some((l) => l.msg === "rpc start" && l.service === "iam"),
        "iam stays at info",
      );
      const read = await server.meta().configure({});
      assert.equal(read.settings?.logLevel, "debug");
      await server
        .meta()
        .configure({ settings: { logLevel: "info" }, updateMask: { paths: ["log_level"] } });
    });

    it("answers DEADLINE_EXCEEDED, not INTERNAL, when a call outlives its deadline", async () => {
      // The deadline goes only in the header, so the server (not the client) must enforce it;
      // Authenticate hashes with scrypt, which takes longer than 1 ms.
      const iam = clientAt(IdentityService, server.url, "", { header: { "grpc-timeout": "1m" } });
      await assert.rejects(
        iam.authenticate({
          account: server.admin.accountName,
          secret: server.admin.secret,
          project: "",
        }),
        (err: unknown) => ConnectError.from(err).code === Code.DeadlineExceeded,
      );
      const line = logged().findLast(
        (l) => l.method === "mulligan.iam.v1.IdentityService/Authenticate",
      );
      assert.equal(line?.code, "DEADLINE_EXCEEDED");
    });

    it("serves Prometheus metrics on its own address", async () => {
      await server.meta().listRegions({});
      await expectGrpcError(server.meta("").listRegions({}), Code.Unauthenticated, "TOKEN_MISSING");
      const url = server.host.metricsServer?.url;
      assert.ok(url);
      const res = await fetch(url);
      assert.equal(res.status, 200);
      const text = await res.text();
      const calls = samples(text, "mulligan_rpc_calls_total");
      const count = (method: string, code: string) =>
        calls.find((s) => s.labels.method === method && s.labels.code === code)?.value ?? 0;
      assert.equal(count("mulligan.iam.v1.IdentityService/Bootstrap", "OK"), 1);
      assert.ok(count("mulligan.meta.v1.MetadataService/ListRegions", "OK") >= 1);
      assert.equal(count("mulligan.meta.v1.MetadataService/ListRegions", "UNAUTHENTICATED"), 1);
      const latency = samples(text, "mulligan_rpc_duration_seconds_count");
      assert.ok(
        latency.some(
          (s) => s.labels.method === "mulligan.meta.v1.MetadataService/ListRegions" && s.value >= 1,
        ),
      );
      const tx = samples(text, "mulligan_store_transaction_duration_seconds_count");
      assert.ok((tx.find((s) => s.labels.outcome === "commit")?.value ?? 0) > 0);
      assert.equal((await fetch(new URL("/", url))).status, 404);
    });

    it("serves over TLS with a self-signed certificate", async () => {
      const dir = mkdtempSync(join(tmpdir(), "mulligan-tls-"));
      const [cert, key] = [join(dir, "cert.pem"), join(dir, "key.pem")];
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "ed25519",
          "-nodes",
          "-days",
          "1",
          "-keyout",
          key,
          "-out",
          cert,
          "-subj",
          "/CN=localhost",
          "-addext",
          "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        { stdio: "ignore" },
      );
      const host = await startHost(server.storeUrl, ["iam", "meta"], {
        configure: (c) => {
          c.tls = { certFile: cert, keyFile: key };
        },
      });
      try {
        assert.match(host.url, /^https:\/\/127\.0\.0\.1:\d+$/);
        const ca = readFileSync(cert, "utf8");
        const who = await clientAt(IdentityService, host.url, server.admin.token, { ca }).whoAmI(
          {},
        );
        assert.equal(who.account?.name, server.admin.accountName);
        const health = await clientAt(Health, host.url, "", { ca }).check({ service: "" });
        assert.equal(health.status, Status.SERVING);
        await assert.rejects(
          clientAt(Health, host.url).check({ service: "" }),
          "untrusted certificate accepted",
        );
        await assert.rejects(
          clientAt(Health, host.url.replace("https", "http")).check({ service: "" }),
        );
      } finally {
        await host.stop(1000);
      }
    });
  });

  describe(`two processes on one store: iam in one, meta in the other [${kind}]`, () => {
    const hosts = splitHosts(kind);

    it("each serves only its part, and both appear in the catalog", async () => {
      const { admin, iamHost, metaHost } = hosts();
      await assert.rejects(
        clientAt(MetadataService, iamHost.url, admin.token).listRegions({}),
        (err: unknown) => ConnectError.from(err).code === Code.Unimplemented,
      );
      const { endpoints } = await clientAt(CatalogService, metaHost.url).getCatalog({});
      const where = Object.fromEntries(endpoints.map((e) => [e.service, e.url]));
      assert.deepEqual(where, {
        [IdentityService.typeName]: iamHost.url,
        [MetadataService.typeName]: metaHost.url,
      });
    });

    it("meta accepts a token issued by iam in the other process", async () => {
      const { admin, iamHost, metaHost } = hosts();
      const auth = await clientAt(IdentityService, iamHost.url).authenticate({
        account: admin.accountName,
        secret: admin.secret,
        project: admin.projectName,
      });
      const meta = clientAt(MetadataService, metaHost.url, auth.token);
      const name = `split-${kind}`;
      await meta.createRegion({ requestId: `req-split-${kind}`, name });
      const { regions } = await meta.listRegions({});
      assert.ok(regions.some((r) => r.name === name));
      await expectGrpcError(
        clientAt(MetadataService, metaHost.url, `${auth.token.slice(0, -4)}AAAA`).listRegions({}),
        Code.Unauthenticated,
        "TOKEN_INVALID",
      );
    });

    it("ends health watches with NOT_SERVING and leaves the catalog when stopped", async () => {
      const { iamHost, metaHost } = hosts();
      const stream = clientAt(Health, metaHost.url).watch({ service: MetadataService.typeName });
      const seen: Status[] = [];
      let stopped: Promise<void> | undefined;
      for await (const r of stream) {
        seen.push(r.status);
        if (seen.length === 1) stopped = metaHost.stop(2000);
      }
      assert.deepEqual(seen, [Status.SERVING, Status.NOT_SERVING]);
      // NOT_SERVING goes out first; the catalog row is gone once stop() has finished.
      await stopped;
      const { endpoints } = await clientAt(CatalogService, iamHost.url).getCatalog({});
      assert.deepEqual(
        endpoints.map((e) => e.service),
        [IdentityService.typeName],
      );
    });
  });
}

describe("HealthMonitor", () => {
  it("follows the store's answers and stays NOT_SERVING after shutdown", async () => {
    let down = false;
    const store = {
      ping: async () => (down ? Promise.reject(new Error("down")) : undefined),
    } as unknown as Store;
    const monitor = new HealthMonitor(store, () => ["x.v1.S"], pino({ level: "silent" }), 10);
    // The monitor's timer does not hold the process open; this one does, for the test.
    const keepAlive = setInterval(() => {}, 1000);
    monitor.start();
    const signal = new AbortController().signal;
    assert.equal(monitor.statusOf("x.v1.S"), Status.SERVING);
    assert.equal(monitor.statusOf("y.v1.S"), undefined);
    down = true;
    await monitor.changed(signal);
    assert.equal(monitor.statusOf(""), Status.NOT_SERVING);
    down = false;
    await monitor.changed(signal);
    assert.equal(monitor.statusOf(""), Status.SERVING);
    monitor.shutdown();
    assert.equal(monitor.statusOf(""), Status.NOT_SERVING);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(monitor.statusOf(""), Status.NOT_SERVING);
    assert.equal(monitor.isClosed, true);
    clearInterval(keepAlive);
  });
});

/**
 * The integration-test harness: a real Mulligan host on a real store, reached over real gRPC.
 * `forEachStore` runs one suite against SQLite and against PostgreSQL (127.0.0.1:5432), each
 * on a fresh database. A missing PostgreSQL fails the suite with what to install; it never
 * silently skips.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe } from "node:test";
import type { DescService } from "@bufbuild/protobuf";
import {
  type Client,
  type Code,
  Code as CodeEnum,
  ConnectError,
  createClient,
} from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import pino, { type Logger } from "pino";
import { BadRequestSchema, ErrorInfoSchema } from "../src/gen/google/rpc/error_details_pb.js";
import { AccountKind, IdentityService, Role } from "../src/gen/mulligan/iam/v1/iam_pb.js";
import { MetadataService } from "../src/gen/mulligan/meta/v1/meta_pb.js";
import { ResourceService } from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { Host } from "../src/host/host.js";
import { defaultServeConfig, type ServeConfig } from "../src/platform/config.js";
import type { RoleName } from "../src/platform/principal.js";
import type { Part } from "../src/platform/service-module.js";
import { groupCommitStore } from "../src/store/group-commit.js";
import { migrate } from "../src/store/migrate.js";
import { openStore, type Store } from "../src/store/store.js";

export type StoreKind = "sqlite" | "postgres";
export const STORE_KINDS: readonly StoreKind[] = ["sqlite", "postgres"];

/** Admin database used to create and drop per-suite databases. */
export const PG_ADMIN_URL =
  process.env.MULLIGAN_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export interface FreshStore {
  url: string;
  drop(): Promise<void>;
}

/** A new, empty database of the given kind. */
export async function freshStore(kind: StoreKind): Promise<FreshStore> {
  if (kind === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "mulligan-test-"));
    return {
      url: `sqlite:${join(dir, "mulligan.db")}`,
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const name = `mulligan_t_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${PG_ADMIN_URL} (${(err as Error).message}). ` +
        "Install and start it (Debian: apt-get install postgresql; pg_ctlcluster 15 main start) " +
        "or set MULLIGAN_TEST_PG_URL.",
    );
  }
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/**
 * A root provider's row as tests write it straight into a store (no inventories, no region
 * record): for what must be there without going through the API.
 */
export function bareProviderRow(uuid: string, name: string, at: string, regionUuid = "r") {
  return {
    uuid,
    name,
    region_uuid: regionUuid,
    parent_uuid: "",
    root_uuid: uuid,
    generation: 1,
    created_at: at,
    updated_at: at,
  };
}

/**
 * Inside a describe: a fresh, migrated store of the kind (`base`, at `url`) and its
 * group-committed wrapper (`store`), opened before the suite and dropped after it, for suites below the API.
 */
export function migratedStore(kind: StoreKind): () => { base: Store; store: Store; url: string } {
  let fresh: FreshStore | undefined;
  let opened: { base: Store; store: Store; url: string } | undefined;
  before(async () => {
    fresh = await freshStore(kind);
    const base = await openStore(fresh.url);
    await migrate(base);
    opened = { base, store: groupCommitStore(base), url: fresh.url };
  });
  after(async () => {
    await opened?.base.close();
    await fresh?.drop();
  });
  return () => opened ?? assert.fail("the store is opened before the suite's tests");
}

export interface TestServer {
  url: string;
  storeUrl: string;
  host: Host;
  admin: { accountName: string; secret: string; projectName: string; token: string };
  /** IdentityService client; default token is the admin's, "" sends none. */
  iam(token?: string): Client<typeof IdentityService>;
  meta(token?: string): Client<typeof MetadataService>;
  /** A client of any service with the given token. */
  client<T extends DescService>(service: T, token?: string): Client<T>;
  /**
   * A new account bound to `role` on `project` (created if missing; default "tenant-a"; null =
   * a global binding and a token without project), and a token scoped to that project.
   */
  tokenFor(opts: {
    role: RoleName;
    project?: string | null;
    kind?: "user" | "application" | "executor";
  }): Promise<string>;
  stop(): Promise<void>;
}

const roleEnum: Record<RoleName, Role> = {
  admin: Role.ADMIN,
  operator: Role.OPERATOR,
  member: Role.MEMBER,
  reader: Role.READER,
  executor: Role.EXECUTOR,
};

const kindEnum = {
  user: AccountKind.USER,
  application: AccountKind.APPLICATION,
  executor: AccountKind.EXECUTOR,
} as const;

let accountCounter = 0;

/** Changes to a test server: its logger (default silent), and any setting. */
export interface TestServerOptions {
  logger?: Logger;
  configure?: (config: ServeConfig) => void;
}

/**
 * Starts a host on a random loopback port serving `services` (default: all) on `storeUrl`,
 * without bootstrapping it (tests that split the parts over several hosts use it directly).
 */
export function startHost(
  storeUrl: string,
  services?: Part[],
  options: TestServerOptions = {},
): Promise<Host> {
  const config = defaultServeConfig(mkdtempSync(join(tmpdir(), "mulligan-data-")));
  config.listen = { host: "127.0.0.1", port: 0 };
  config.databaseUrl = storeUrl;
  if (services) config.services = services;
  options.configure?.(config);
  const logger = options.logger ?? pino({ level: process.env.MULLIGAN_TEST_LOG ?? "silent" });
  return Host.start({ config, logger });
}

/** Starts a host on a random loopback port and bootstraps it over gRPC. */
export async function startTestServer(
  storeUrl: string,
  services?: Part[],
  options: TestServerOptions = {},
): Promise<TestServer> {
  const host = await startHost(storeUrl, services, options);
  const url = host.url;
  const transports = new Map<string, ReturnType<typeof createGrpcTransport>>();
  const transport = (token: string) => {
    let t = transports.get(token);
    if (!t) {
      t = createGrpcTransport({
        baseUrl: url,
        interceptors: token
          ? [
              (next) => (req) => {
                req.header.set("authorization", `Bearer ${token}`);
                return next(req);
              },
            ]
          : [],
      });
      transports.set(token, t);
    }
    return t;
  };
  const boot = await createClient(IdentityService, transport("")).bootstrap({});
  const admin = {
    accountName: boot.account?.name ?? "",
    secret: boot.secret,
    projectName: boot.project?.name ?? "",
    token: boot.token,
  };
  const client = <T extends DescService>(service: T, token = admin.token) =>
    createClient(service, transport(token));
  const server: TestServer = {
    url,
    storeUrl,
    host,
    admin,
    client,
    iam: (token) => client(IdentityService, token),
    meta: (token) => client(MetadataService, token),
    async tokenFor({ role, project = "tenant-a", kind = "user" }) {
      const iam = client(IdentityService);
      const name = `t-${role}-${process.pid}-${++accountCounter}`;
      const created = await iam.createAccount({ name, kind: kindEnum[kind] });
      if (project !== null) {
        try {
          await iam.createProject({ name: project });
        } catch (err) {
          if (ConnectError.from(err).code !== 6 /* ALREADY_EXISTS */) throw err;
        }
      }
      await iam.grantRole({ account: name, project: project ?? "", role: roleEnum[role] });
      const auth = await iam.authenticate({
        account: name,
        secret: created.secret,
        project: project ?? "",
      });
      return auth.token;
    },
    stop: () => host.stop(1000),
  };
  return server;
}

/** Runs `body` once per store kind, each against its own fresh database and server. */
export function forEachStore(
  title: string,
  body: (server: () => TestServer) => void,
  options: TestServerOptions = {},
): void {
  for (const kind of STORE_KINDS) {
    describe(`${title} [${kind}]`, () => {
      let store: FreshStore | undefined;
      let server: TestServer | undefined;
      before(async () => {
        store = await freshStore(kind);
        server = await startTestServer(store.url, undefined, options);
      });
      after(async () => {
        await server?.stop();
        await store?.drop();
      });
      body(() => {
        assert.ok(server, "server not started");
        return server;
      });
    });
  }
}

/** Two processes on one store: iam in one host, meta in the other, and the bootstrap admin. */
export interface SplitHosts {
  admin: TestServer["admin"];
  iamHost: Host;
  metaHost: Host;
}

/**
 * In the enclosing describe: a fresh `kind` store, bootstrapped by a first server that then
 * stops, with iam and meta each started in its own host on it. Returns the running hosts.
 */
export function splitHosts(kind: StoreKind): () => SplitHosts {
  let store: FreshStore | undefined;
  let admin: TestServer["admin"] | undefined;
  let iamHost: Host | undefined;
  let metaHost: Host | undefined;
  before(async () => {
    store = await freshStore(kind);
    const first = await startTestServer(store.url);
    admin = first.admin;
    await first.stop();
    iamHost = await startHost(store.url, ["iam"]);
    metaHost = await startHost(store.url, ["meta"]);
  });
  after(async () => {
    await metaHost?.stop(1000);
    await iamHost?.stop(1000);
    await store?.drop();
  });
  return () => {
    assert.ok(admin && iamHost && metaHost, "hosts not started");
    return { admin, iamHost, metaHost };
  };
}

/** A loopback port nothing listens on. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Asserts that `p` fails with `code`, ErrorInfo `reason` and (if given) a violation of `field`. */
export async function expectGrpcError(
  p: Promise<unknown>,
  code: Code,
  reason: string,
  field?: string,
): Promise<ConnectError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught, `expected an error ${reason}, got success`);
  const err = ConnectError.from(caught);
  const info = err.findDetails(ErrorInfoSchema)[0];
  assert.equal(
    `${err.code}:${info?.reason}`,
    `${code}:${reason}`,
    `expected code ${code} reason ${reason}, got code ${err.code} reason ${info?.reason}: ${err.message}`,
  );
  assert.equal(info?.domain, "mulligan");
  if (field !== undefined) {
    const fields = err
      .findDetails(BadRequestSchema)
      .flatMap((b) => b.fieldViolations.map((v) => v.field));
    assert.ok(
      fields.includes(field),
      `expected a violation of ${field}, got [${fields.join(", ")}]`,
    );
  }
  return err;
}

/** Asserts that a consumer holds nothing: the resource part knows no such consumer, or no allocation. */
export async function assertNothingHeld(
  server: TestServer,
  consumer: string,
  message = "the claim was released",
): Promise<void> {
  const left = await server
    .client(ResourceService)
    .getAllocations({ consumer })
    .catch((e: unknown) => ConnectError.from(e));
  assert.ok(
    left instanceof ConnectError ? left.code === CodeEnum.NotFound : left.allocations.length === 0,
    message,
  );
}

/**
 * A debug-level logger that keeps every line it writes, for tests that look for a message or
 * check that a secret never reaches the log.
 */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = pino(
    { level: "debug" },
    new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    }),
  );
  return { logger, lines };
}

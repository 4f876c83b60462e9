/**
 * The smart client. `MulliganClient.connect` asks the given server for the catalog (which
 * endpoint hosts which service), opens one HTTP/2 connection per endpoint, and hands out typed
 * clients whose calls go straight to the endpoint that hosts their service. A service the
 * catalog does not list is reached through the given server.
 */
import type { DescService } from "@bufbuild/protobuf";
import {
  type Client,
  Code,
  ConnectError,
  createClient,
  type Interceptor,
} from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { CatalogService, type Endpoint } from "../gen/mulligan/catalog/v1/catalog_pb.js";
import {
  ExecutorService,
  ImageService,
  MachineService,
} from "../gen/mulligan/control/v1/control_pb.js";
import { NodeService } from "../gen/mulligan/control/v1/node_pb.js";
import { IdentityService } from "../gen/mulligan/iam/v1/iam_pb.js";
import { MetadataService } from "../gen/mulligan/meta/v1/meta_pb.js";
import { ResourceService } from "../gen/mulligan/resource/v1/resource_pb.js";
import { bearerToken, requestIds, retryUnavailable } from "./interceptors.js";
import { type ConnectOptions, type ResolvedOptions, resolveOptions } from "./options.js";

/** One HTTP/2 connection to one endpoint, shared by every service it hosts. */
interface Connection {
  session: Http2SessionManager;
  transport: ReturnType<typeof createGrpcTransport>;
}

export class MulliganClient {
  /** IdentityService: accounts, projects, roles, tokens. */
  readonly iam: Client<typeof IdentityService>;
  /** MetadataService: regions and the object registry. */
  readonly meta: Client<typeof MetadataService>;
  /** ResourceService: providers, inventories, candidates, claims, usages and quotas. */
  readonly resource: Client<typeof ResourceService>;
  /** MachineService: provision, watch and decommission machines. */
  readonly machines: Client<typeof MachineService>;
  /** ImageService: the images machines boot from. */
  readonly images: Client<typeof ImageService>;
  /** ExecutorService: the executors' link (leases and reports). */
  readonly executor: Client<typeof ExecutorService>;
  /** NodeService: bare-metal nodes (enroll, inspect, clean, maintenance). */
  readonly nodes: Client<typeof NodeService>;

  private constructor(
    private readonly options: ResolvedOptions,
    /** Service type name → endpoint URL, from the catalog. */
    private readonly routes: ReadonlyMap<string, string>,
    private readonly connections: Map<string, Connection>,
  ) {
    this.iam = this.service(IdentityService);
    this.meta = this.service(MetadataService);
    this.resource = this.service(ResourceService);
    this.machines = this.service(MachineService);
    this.images = this.service(ImageService);
    this.executor = this.service(ExecutorService);
    this.nodes = this.service(NodeService);
  }

  /** Fetches the catalog from `options.server` and returns a client routed by it. */
  static async connect(options: ConnectOptions = {}): Promise<MulliganClient> {
    const resolved = resolveOptions(options);
    const connections = new Map<string, Connection>();
    const open = (url: string) => connection(resolved, connections, url);
    let endpoints: Endpoint[] = [];
    try {
      const catalog = createClient(CatalogService, open(resolved.serverUrl).transport);
      endpoints = (await catalog.getCatalog({}, { signal: resolved.signal })).endpoints;
    } catch (err) {
      // A server without a catalog still serves what it hosts: route everything to it.
      if (ConnectError.from(err).code !== Code.Unimplemented) {
        closeAll(connections);
        throw err;
      }
    }
    const routes = new Map<string, string>();
    // Endpoints come freshest first for each service: keep the first one of each.
    for (const e of endpoints) if (!routes.has(e.service)) routes.set(e.service, e.url);
    return new MulliganClient(resolved, routes, connections);
  }

  /** The base URL of the server this client was connected to. */
  get serverUrl(): string {
    return this.options.serverUrl;
  }

  /** The URL calls of `service` go to: its catalog endpoint, else the connected server. */
  endpointOf(service: DescService): string {
    return this.routes.get(service.typeName) ?? this.options.serverUrl;
  }

  /** A typed client of any Mulligan service, routed like `iam`, `meta` and `resource`. */
  service<T extends DescService>(desc: T): Client<T> {
    return createClient(
      desc,
      connection(this.options, this.connections, this.endpointOf(desc)).transport,
    );
  }

  /** Closes every connection; calls still running fail. */
  close(): void {
    closeAll(this.connections);
  }
}

function connection(
  options: ResolvedOptions,
  pool: Map<string, Connection>,
  url: string,
): Connection {
  const existing = pool.get(url);
  if (existing) return existing;
  const tls = url.startsWith("https:") && options.ca ? { ca: options.ca } : {};
  const session = new Http2SessionManager(url, {}, tls);
  const interceptors: Interceptor[] = [requestIds, retryUnavailable(options.maxAttempts)];
  if (options.token) interceptors.push(bearerToken(options.token));
  const transport = createGrpcTransport({
    baseUrl: url,
    sessionManager: session,
    interceptors,
    defaultTimeoutMs: options.deadlineMs,
  });
  const created = { session, transport };
  pool.set(url, created);
  return created;
}

function closeAll(pool: Map<string, Connection>): void {
  for (const c of pool.values()) c.session.abort();
  pool.clear();
}

/**
 * The service catalog: which process serves which service at which URL. Every process writes
 * its hosted services to the platform table `platform_endpoints` at start, refreshes a
 * heartbeat, and removes its rows at shutdown; an endpoint whose heartbeat is older than the
 * TTL is dead. Clients read it through `CatalogService.GetCatalog`; processes use it to reach
 * parts they do not host (`catalogTransport`).
 */
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import { CatalogService } from "../gen/mulligan/catalog/v1/catalog_pb.js";
import type { Store } from "../store/store.js";
import type { BuiltinService } from "./builtin-service.js";
import { nowIso } from "./ids.js";

/** How often a process refreshes its rows, and how old a heartbeat may be before it is dead. */
export const HEARTBEAT_MS = 10_000;
export const ENDPOINT_TTL_MS = 30_000;
/** Rows of processes that died without deregistering are deleted after this long. */
const PRUNE_AFTER_MS = 24 * 3600_000;

export interface EndpointRow {
  service: string;
  url: string;
  instanceId: string;
  heartbeatAt: string;
}

/** This process's entry in the catalog, and reads of everyone's. */
export class EndpointRegistry {
  private timer: NodeJS.Timeout | undefined;
  private entries: { services: readonly string[]; url: string } | undefined;

  constructor(
    private readonly store: Store,
    readonly instanceId: string,
    private readonly logger: Logger,
    private readonly heartbeatMs = HEARTBEAT_MS,
  ) {}

  /** Publishes this process's services at `url` and keeps them alive until `deregister`. */
  async register(services: readonly string[], url: string): Promise<void> {
    this.entries = { services, url };
    const prune = new Date(Date.now() - PRUNE_AFTER_MS).toISOString();
    await this.store.transaction(async (tx) => {
      await tx.deleteFrom("platform_endpoints").where("heartbeat_at", "<", prune).execute();
      await this.write(tx);
    });
    this.timer = setInterval(() => void this.heartbeat(), this.heartbeatMs);
    this.timer.unref();
  }

  /** Removes this process's rows: clients stop being sent here at once. */
  async deregister(): Promise<void> {
    clearInterval(this.timer);
    this.entries = undefined;
    await this.store.db
      .deleteFrom("platform_endpoints")
      .where("instance_id", "=", this.instanceId)
      .execute();
  }

  /** Live endpoints, freshest first. */
  async live(): Promise<EndpointRow[]> {
    const cutoff = new Date(Date.now() - ENDPOINT_TTL_MS).toISOString();
    const rows = await this.store.db
      .selectFrom("platform_endpoints")
      .selectAll()
      .where("heartbeat_at", ">", cutoff)
      .orderBy("heartbeat_at", "desc")
      .orderBy("service")
      .execute();
    return rows.map((r) => ({
      service: r.service,
      url: r.url,
      instanceId: r.instance_id,
      heartbeatAt: r.heartbeat_at,
    }));
  }

  /** The URL of the freshest live endpoint of a service, if any. */
  async urlOf(service: string): Promise<string | undefined> {
    return (await this.live()).find((e) => e.service === service)?.url;
  }

  private async heartbeat(): Promise<void> {
    try {
      await this.store.transaction((tx) => this.write(tx));
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, "catalog heartbeat failed");
    }
  }

  /** Replaces this instance's rows (also restores them if someone deleted them). */
  private async write(tx: Parameters<Parameters<Store["transaction"]>[0]>[0]): Promise<void> {
    const entries = this.entries;
    if (!entries) return;
    await tx.deleteFrom("platform_endpoints").where("instance_id", "=", this.instanceId).execute();
    if (entries.services.length === 0) return;
    const at = nowIso();
    await tx
      .insertInto("platform_endpoints")
      .values(
        entries.services.map((service) => ({
          service,
          url: entries.url,
          instance_id: this.instanceId,
          heartbeat_at: at,
        })),
      )
      .execute();
  }
}

/** CatalogService: public, so any address a client knows leads to every service. */
export function catalogService(registry: EndpointRegistry): BuiltinService {
  return {
    desc: CatalogService,
    policy: { GetCatalog: "public" },
    register(router: ConnectRouter) {
      router.service(CatalogService, {
        async getCatalog() {
          const endpoints = (await registry.live()).map((e) => ({
            service: e.service,
            url: e.url,
            instanceId: e.instanceId,
            heartbeatTime: timestampFromDate(new Date(e.heartbeatAt)),
          }));
          return { endpoints };
        },
      });
    },
  };
}

/** How long a resolved URL is reused before the catalog is read again. */
const RESOLVE_CACHE_MS = 5000;

/**
 * A transport to whichever live process serves `service`, found in the catalog at call time
 * (so the process that needs it may start before it). Fails UNAVAILABLE if none is live.
 */
export function catalogTransport(registry: EndpointRegistry, service: string): Transport {
  let cached: { url: string; transport: Transport; until: number } | undefined;
  const resolve = async (): Promise<Transport> => {
    if (cached && cached.until > Date.now()) return cached.transport;
    const url = await registry.urlOf(service);
    if (!url)
      throw new ConnectError(`no live endpoint of ${service} in the catalog`, Code.Unavailable);
    const transport =
      cached?.url === url ? cached.transport : createGrpcTransport({ baseUrl: url });
    cached = { url, transport, until: Date.now() + RESOLVE_CACHE_MS };
    return transport;
  };
  return {
    unary: async (...args) => (await resolve()).unary(...args),
    stream: async (...args) => (await resolve()).stream(...args),
  };
}

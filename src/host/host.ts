/**
 * One Mulligan process: opens the store, runs migrations, creates the parts named in its
 * configuration with their dependencies (in-process when co-hosted, through the catalog and
 * gRPC otherwise), serves them next to health, reflection and the catalog, and publishes
 * itself in the catalog. This is the only place that knows every part.
 */
import type { ConnectRouter } from "@connectrpc/connect";
import type { Logger } from "pino";
import { createControlModule } from "../control/module.js";
import { IdentityService } from "../gen/mulligan/iam/v1/iam_pb.js";
import { MetadataService } from "../gen/mulligan/meta/v1/meta_pb.js";
import { ResourceService } from "../gen/mulligan/resource/v1/resource_pb.js";
import { createIamModule } from "../iam/module.js";
import { RemoteKeySource, RemoteProjectDirectory } from "../iam/remote.js";
import { createMetaModule } from "../meta/module.js";
import { RemoteRegionDirectory } from "../meta/remote.js";
import type { BuiltinService } from "../platform/builtin-service.js";
import { catalogService, catalogTransport, EndpointRegistry } from "../platform/catalog.js";
import type { ServeConfig } from "../platform/config.js";
import type { IdentityProvider, RegionDirectory } from "../platform/directory.js";
import { HealthMonitor, healthService } from "../platform/health.js";
import { newUuid } from "../platform/ids.js";
import { inProcessClient, servicePrincipal } from "../platform/in-process.js";
import { Metrics, type MetricsServer, serveMetrics } from "../platform/metrics.js";
import { reflectionService } from "../platform/reflection.js";
import { GrpcServer } from "../platform/server.js";
import type { HostedService, ServiceModule } from "../platform/service-module.js";
import { TokenVerifier } from "../platform/tokens.js";
import { createResourceModule } from "../resource/module.js";
import { migrate } from "../store/migrate.js";
import { openStore, type Store } from "../store/store.js";

/** The account UUID control's claims are recorded under (no such account exists in iam). */
const CONTROL_ACCOUNT_UUID = "00000000-0000-7000-8000-00000000c0de";

export interface HostOptions {
  config: ServeConfig;
  logger: Logger;
  /** Collect process metrics (CPU, memory); off in tests that start many hosts. */
  processMetrics?: boolean;
}

/** The parts and builtin services of a process, before it listens. */
interface Composition {
  modules: ServiceModule[];
  /** Each part's logger, by the type name of each of its services. */
  loggers: Map<string, Logger>;
  identity: IdentityProvider;
}

export class Host {
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly config: ServeConfig,
    readonly store: Store,
    readonly server: GrpcServer,
    readonly metrics: Metrics,
    readonly health: HealthMonitor,
    readonly catalog: EndpointRegistry,
    /** The Prometheus endpoint, if --metrics-listen was given. */
    readonly metricsServer: MetricsServer | undefined,
    /** The URL published in the catalog. */
    readonly advertisedUrl: string,
    private readonly modules: readonly ServiceModule[],
    private readonly logger: Logger,
  ) {}

  get url(): string {
    return this.server.url;
  }

  static async start(options: HostOptions): Promise<Host> {
    const { config, logger } = options;
    const metrics = new Metrics(options.processMetrics ?? false);
    const store = await openStore(config.databaseUrl, {
      observe: (seconds, outcome) => metrics.storeTransactionSeconds.observe({ outcome }, seconds),
    });
    let server: GrpcServer | undefined;
    let metricsServer: MetricsServer | undefined;
    let started: readonly ServiceModule[] = [];
    try {
      const applied = await migrate(store);
      if (applied.length > 0) logger.info({ applied }, "migrations applied");
      const catalog = new EndpointRegistry(store, newUuid(), logger);
      const { modules, loggers, identity } = compose(config, store, logger, catalog);
      started = modules;
      for (const m of modules) await m.start?.();
      const partServices: HostedService[] = modules.flatMap((m) => m.services);
      const names = partServices.map((s) => s.desc.typeName);
      const all: HostedService[] = [...partServices];
      const health = new HealthMonitor(store, () => all.map((s) => s.desc.typeName), logger);
      const builtins: BuiltinService[] = [
        healthService(health),
        reflectionService(() => all),
        catalogService(catalog),
      ];
      all.push(...builtins);
      const routes = (router: ConnectRouter) => {
        for (const m of modules) m.register(router);
        for (const b of builtins) b.register(router);
      };
      server = await GrpcServer.start({
        host: config.listen.host,
        port: config.listen.port,
        tls: config.tls,
        services: all,
        routes,
        verifier: new TokenVerifier(identity.keys),
        loggerFor: (typeName) => loggers.get(typeName) ?? logger,
        metrics,
      });
      if (config.metricsListen) metricsServer = await serveMetrics(metrics, config.metricsListen);
      const advertisedUrl = config.advertiseUrl ?? server.url;
      await catalog.register(names, advertisedUrl);
      health.start();
      logger.info(
        {
          url: server.url,
          advertisedUrl,
          services: config.services,
          metrics: metricsServer?.url,
          store: store.description,
          instance: catalog.instanceId,
        },
        "serving",
      );
      return new Host(
        config,
        store,
        server,
        metrics,
        health,
        catalog,
        metricsServer,
        advertisedUrl,
        modules,
        logger,
      );
    } catch (err) {
      await server?.shutdown(0);
      for (const m of started) await m.close?.();
      await metricsServer?.close();
      await store.close();
      throw err;
    }
  }

  /**
   * Marks the process NOT_SERVING, leaves the catalog, drains calls (up to `drainMs`), stops
   * the parts and closes the store. Calling it again returns the same promise.
   */
  stop(drainMs = this.config.drainTimeoutMs): Promise<void> {
    this.stopping ??= this.shutdown(drainMs);
    return this.stopping;
  }

  private async shutdown(drainMs: number): Promise<void> {
    this.logger.info({ drainMs }, "shutting down");
    this.health.shutdown();
    try {
      await this.catalog.deregister();
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, "could not leave the catalog");
    }
    await this.server.shutdown(drainMs);
    for (const m of this.modules) await m.close?.();
    await this.metricsServer?.close();
    await this.store.close();
    this.logger.info("stopped");
  }
}

/**
 * Creates the configured parts. Without iam in this process, tokens are verified with the
 * keys of the iam found in the catalog, and projects are looked up there; without meta,
 * regions are looked up in the meta found in the catalog.
 */
function compose(
  config: ServeConfig,
  store: Store,
  logger: Logger,
  catalog: EndpointRegistry,
): Composition {
  const modules: ServiceModule[] = [];
  const loggers = new Map<string, Logger>();
  const add = (m: ServiceModule, partLogger: Logger) => {
    modules.push(m);
    for (const s of m.services) loggers.set(s.desc.typeName, partLogger);
  };
  let identity: IdentityProvider;
  if (config.services.includes("iam")) {
    const iamLogger = logger.child({ service: "iam" });
    const iam = createIamModule({ store, logger: iamLogger });
    add(iam, iamLogger);
    identity = iam.identity;
  } else {
    const transport = catalogTransport(catalog, IdentityService.typeName);
    identity = {
      keys: new RemoteKeySource(transport),
      projects: new RemoteProjectDirectory(transport),
    };
  }
  let regions: RegionDirectory;
  if (config.services.includes("meta")) {
    const metaLogger = logger.child({ service: "meta" });
    const meta = createMetaModule({ store, logger: metaLogger, projects: identity.projects });
    add(meta, metaLogger);
    regions = meta.regions;
  } else {
    regions = new RemoteRegionDirectory(catalogTransport(catalog, MetadataService.typeName));
  }
  let resource: ServiceModule | undefined;
  if (config.services.includes("resource")) {
    const resourceLogger = logger.child({ service: "resource" });
    resource = createResourceModule({
      store,
      logger: resourceLogger,
      projects: identity.projects,
      regions,
    });
    add(resource, resourceLogger);
  }
  if (config.services.includes("control")) {
    // Control claims and releases as a fleet-wide identity, through ResourceService's contract.
    if (!resource)
      throw new Error(
        "the control part needs the resource part in the same process (add resource to --services)",
      );
    const controlLogger = logger.child({ service: "control" });
    const client = inProcessClient(
      ResourceService,
      (router) => resource.register(router),
      servicePrincipal("control", CONTROL_ACCOUNT_UUID),
    );
    add(
      createControlModule({
        store,
        logger: controlLogger,
        projects: identity.projects,
        regions,
        resource: client,
        settings: config.control ?? {},
        dataDir: config.dataDir,
      }),
      controlLogger,
    );
  }
  return { modules, loggers, identity };
}

/**
 * The control part as its host sees it: MachineService, ImageService, ExecutorService and
 * NodeService with their policy tables, and the scheduler that runs beside them. The resource
 * engine is reached through ResourceService's contract (placement.ts, node-provider.ts);
 * projects and regions through directories.
 */
import type { Client, ConnectRouter } from "@connectrpc/connect";
import {
  ExecutorService,
  ImageService,
  MachineService,
} from "../gen/mulligan/control/v1/control_pb.js";
import { NodeService } from "../gen/mulligan/control/v1/node_pb.js";
import type { ResourceService } from "../gen/mulligan/resource/v1/resource_pb.js";
import type { ProjectDirectory, RegionDirectory } from "../platform/directory.js";
import type { ServiceDeps, ServiceModule } from "../platform/service-module.js";
import { prunePeriodically, pruneRequestLog } from "../store/request-log.js";
import { type ControlDeps, type ControlSettings, DEFAULT_CONTROL_SETTINGS } from "./deps.js";
import { CredentialBox } from "./node-credentials.js";
import { resourceNodeProviders } from "./node-provider.js";
import { nodeService } from "./node-service.js";
import { syncAllProviders } from "./nodes.js";
import { resourcePlacement } from "./placement.js";
import { executorPolicy, imagePolicy, machinePolicy, nodePolicy } from "./policy.js";
import { Scheduler } from "./scheduler.js";
import { executorService, imageService, machineService } from "./service.js";
import { Signal } from "./signal.js";

/** How often every node's provider is published again (repairs a sync that failed). */
const NODE_SYNC_INTERVAL_MS = 60_000;

export interface ControlModuleDeps extends ServiceDeps {
  projects: ProjectDirectory;
  regions: RegionDirectory;
  /** ResourceService as a fleet-wide identity (in-process when co-hosted). */
  resource: Client<typeof ResourceService>;
  settings?: Partial<ControlSettings>;
  /** Where the BMC credential key lives unless MULLIGAN_BMC_KEY gives it. */
  dataDir: string;
}

export function createControlModule(base: ControlModuleDeps): ServiceModule {
  const deps: ControlDeps = {
    store: base.store,
    logger: base.logger,
    projects: base.projects,
    regions: base.regions,
    placement: resourcePlacement(base.resource),
    nodeProviders: resourceNodeProviders(base.resource),
    credentials: CredentialBox.load(base.dataDir),
    changed: new Signal(),
    settings: { ...DEFAULT_CONTROL_SETTINGS, ...base.settings },
  };
  const scheduler = new Scheduler(deps);
  let prune: NodeJS.Timeout | undefined;
  let nodeSync: NodeJS.Timeout | undefined;
  return {
    part: "control",
    services: [
      { desc: MachineService, policy: machinePolicy },
      { desc: ImageService, policy: imagePolicy },
      { desc: ExecutorService, policy: executorPolicy },
      { desc: NodeService, policy: nodePolicy },
    ],
    async start() {
      scheduler.start();
      prune = prunePeriodically(base.logger, "request log", () =>
        pruneRequestLog(base.store, "control_requests"),
      );
      nodeSync = setInterval(() => {
        syncAllProviders(deps).catch((err) =>
          base.logger.warn({ err }, "node provider sweep failed"),
        );
      }, NODE_SYNC_INTERVAL_MS);
      nodeSync.unref();
    },
    register(router: ConnectRouter) {
      router.service(MachineService, machineService(deps));
      router.service(ImageService, imageService(deps));
      router.service(ExecutorService, executorService(deps));
      router.service(NodeService, nodeService(deps));
    },
    async close() {
      clearInterval(prune);
      clearInterval(nodeSync);
      await scheduler.close();
    },
  };
}

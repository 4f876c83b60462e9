/**
 * The resource part as its host sees it: ResourceService with its policy table, and the fleet
 * index it searches, built before the part serves. Regions and projects come through
 * directories (never meta's or iam's tables).
 */
import type { ConnectRouter } from "@connectrpc/connect";
import { ResourceService } from "../gen/mulligan/resource/v1/resource_pb.js";
import type { ProjectDirectory, RegionDirectory } from "../platform/directory.js";
import type { ServiceDeps, ServiceModule } from "../platform/service-module.js";
import { groupCommitStore } from "../store/group-commit.js";
import { prunePeriodically, pruneRequestLog } from "../store/request-log.js";
import { FleetIndex } from "./fleet-index.js";
import { resourcePolicy } from "./policy.js";
import { CHANGES_CHANNEL, pruneChanges } from "./repo/changes.js";
import { resourceService } from "./service.js";
import { ChangeNotifier, coalescedNotify, notifyingStore } from "./watch.js";
import { findCandidatesEncoder } from "./wire-encode.js";

/** What the resource domain needs from its host. */
export interface ResourceDeps extends ServiceDeps {
  projects: ProjectDirectory;
  regions: RegionDirectory;
}

/**
 * The resource domain's dependencies once wired: the store (group-committed, and notifying:
 * every commit updates the index and wakes watchers), the watchers' notifier, the index.
 */
export interface ResourceRuntime extends ResourceDeps {
  notifier: ChangeNotifier;
  index: FleetIndex;
}

export function createResourceModule(base: ResourceDeps): ServiceModule {
  const notifier = new ChangeNotifier();
  const index = new FleetIndex({
    store: base.store,
    logger: base.logger,
    onFeed: () => notifier.notify(),
  });
  const publish = coalescedNotify(base.store, CHANGES_CHANNEL, base.logger);
  const store = notifyingStore(groupCommitStore(base.store), async (appended, known) => {
    await index.refresh(appended.changes, appended.added, known ? appended.seqs : []);
    notifier.notify();
    publish();
  });
  const runtime: ResourceRuntime = { ...base, store, notifier, index };
  let prune: NodeJS.Timeout | undefined;
  return {
    part: "resource",
    services: [
      { desc: ResourceService, policy: resourcePolicy, encoders: [findCandidatesEncoder] },
    ],
    async start() {
      const started = performance.now();
      await index.start();
      // The claims' request log and the change log would otherwise grow without end.
      prune = prunePeriodically(base.logger, "resource log", async () => {
        const [, changes] = await Promise.all([
          pruneRequestLog(base.store, "resource_requests"),
          pruneChanges(base.store),
        ]);
        base.logger.debug({ changes }, "resource logs pruned");
      });
      base.logger.info(
        {
          providers: index.providers.size,
          ms: Math.round(performance.now() - started),
        },
        "fleet index built",
      );
    },
    register(router: ConnectRouter) {
      router.service(ResourceService, resourceService(runtime));
    },
    close: () => {
      clearInterval(prune);
      return index.close();
    },
  };
}

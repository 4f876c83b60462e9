/**
 * The meta part as its host sees it: the MetadataService with its policy table. Projects are
 * resolved through the ProjectDirectory the host hands in (in-process iam or remote), never by
 * reading iam's tables. Also exports what the CLI's offline bootstrap needs.
 */
import type { ConnectRouter } from "@connectrpc/connect";
import { MetadataService } from "../gen/mulligan/meta/v1/meta_pb.js";
import type { ProjectDirectory, RegionDirectory } from "../platform/directory.js";
import type { ServiceDeps, ServiceModule } from "../platform/service-module.js";
import { prunePeriodically, pruneRequestLog } from "../store/request-log.js";
import { metaPolicy } from "./policy.js";
import { localRegionDirectory } from "./region-directory.js";
import { metadataService } from "./service.js";

/** Region creation without a server, for the CLI's offline bootstrap. */
export { type CreateRegionInput, createFirstRegion, createRegion } from "./regions.js";

/** The meta part for a host process, with the region directory co-hosted parts use. */
export function createMetaModule(
  deps: ServiceDeps & { projects: ProjectDirectory },
): ServiceModule & { regions: RegionDirectory } {
  const prune = prunePeriodically(deps.logger, "request log", () =>
    pruneRequestLog(deps.store, "meta_requests"),
  );
  return {
    part: "meta",
    services: [{ desc: MetadataService, policy: metaPolicy }],
    register(router: ConnectRouter) {
      router.service(MetadataService, metadataService(deps));
    },
    async close() {
      clearInterval(prune);
    },
    regions: localRegionDirectory(deps.store),
  };
}

/**
 * The resource part as its host sees it: ResourceService with its policy table. Regions and
 * projects come through directories (never meta's or iam's tables).
 */
import type { ConnectRouter } from "@connectrpc/connect";
import { ResourceService } from "../gen/mulligan/resource/v1/resource_pb.js";
import type { ProjectDirectory, RegionDirectory } from "../platform/directory.js";
import type { ServiceDeps, ServiceModule } from "../platform/service-module.js";
import { resourcePolicy } from "./policy.js";
import { resourceService } from "./service.js";

/** What the resource domain needs from its host. */
export interface ResourceDeps extends ServiceDeps {
  projects: ProjectDirectory;
  regions: RegionDirectory;
}

export function createResourceModule(deps: ResourceDeps): ServiceModule {
  return {
    part: "resource",
    services: [{ desc: ResourceService, policy: resourcePolicy }],
    register(router: ConnectRouter) {
      router.service(ResourceService, resourceService(deps));
    },
  };
}

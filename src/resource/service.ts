/**
 * ResourceService handlers: the registry RPCs (service-registry.ts) and the claim RPCs
 * (service-claims.ts), each thin — decode, call the domain, encode. Both write through one
 * notifying store (module.ts), so every committed change updates the fleet index and wakes
 * this process's watchers before the caller gets its answer.
 */
import type { ServiceImpl } from "@connectrpc/connect";
import type { ResourceService } from "../gen/mulligan/resource/v1/resource_pb.js";
import { configureHandler } from "../platform/runtime-settings.js";
import type { ResourceRuntime } from "./module.js";
import { claimHandlers } from "./service-claims.js";
import { registryHandlers } from "./service-registry.js";

export function resourceService(deps: ResourceRuntime): ServiceImpl<typeof ResourceService> {
  return {
    ...registryHandlers(deps),
    ...claimHandlers(deps),
    configure: configureHandler(deps.logger),
  };
}

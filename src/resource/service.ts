/**
 * ResourceService handlers: the registry RPCs (service-registry.ts) and the claim RPCs
 * (service-claims.ts), each thin — decode, call the domain, encode. Both write through one
 * notifying store, so every committed change wakes this process's watchers.
 */
import type { ServiceImpl } from "@connectrpc/connect";
import type { ResourceService } from "../gen/mulligan/resource/v1/resource_pb.js";
import { configureHandler } from "../platform/runtime-settings.js";
import type { ResourceDeps } from "./module.js";
import { claimHandlers } from "./service-claims.js";
import { registryHandlers } from "./service-registry.js";
import { ChangeNotifier, notifyingStore } from "./watch.js";

export function resourceService(base: ResourceDeps): ServiceImpl<typeof ResourceService> {
  const notifier = new ChangeNotifier();
  const deps = { ...base, store: notifyingStore(base.store, notifier) };
  return {
    ...registryHandlers(deps),
    ...claimHandlers(deps, notifier),
    configure: configureHandler(deps.logger),
  };
}

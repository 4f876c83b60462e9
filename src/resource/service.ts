/**
 * ResourceService handlers: the registry RPCs (service-registry.ts) and the claim RPCs
 * (service-claims.ts), each thin — decode, call the domain, encode.
 */
import type { ServiceImpl } from "@connectrpc/connect";
import type { ResourceService } from "../gen/mulligan/resource/v1/resource_pb.js";
import { callerOf } from "../platform/caller.js";
import { applyRuntimeSettings } from "../platform/runtime-settings.js";
import type { ResourceDeps } from "./module.js";
import { claimHandlers } from "./service-claims.js";
import { registryHandlers } from "./service-registry.js";

export function resourceService(deps: ResourceDeps): ServiceImpl<typeof ResourceService> {
  return {
    ...registryHandlers(deps),
    ...claimHandlers(deps),
    async configure(req, ctx) {
      const paths = req.updateMask?.paths ?? [];
      return {
        settings: applyRuntimeSettings(callerOf(ctx).principal, deps.logger, req.settings, paths),
      };
    },
  };
}

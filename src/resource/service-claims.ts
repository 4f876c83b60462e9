/**
 * The claim RPCs of ResourceService: search, claims, usages, quotas, reshape and the change
 * stream. Each handler decodes (validate-claims.ts), calls the domain with the caller (the
 * interceptor already applied policy.ts), and encodes (wire-claims.ts). Searches read the fleet
 * index; committed writes update it and wake watchers through the store (module.ts).
 */
import type { ServiceImpl } from "@connectrpc/connect";
import type { ResourceService } from "../gen/mulligan/resource/v1/resource_pb.js";
import { callerOf, principalOf } from "../platform/caller.js";
import type { ClaimResult } from "./allocations.js";
import { claim } from "./claim.js";
import { claimBest, findCandidatesFor, type SearchDeps } from "./claim-best.js";
import * as consumers from "./consumers.js";
import type { ResourceRuntime } from "./module.js";
import * as quotas from "./quotas.js";
import { reshape } from "./reshape.js";
import * as usages from "./usages.js";
import * as validate from "./validate-claims.js";
import { decodeQuery } from "./validate-query.js";
import { watchProviders } from "./watch.js";
import { resourceSummaryMessage } from "./wire.js";
import {
  allocationMessage,
  candidatesResponse,
  consumerMessage,
  providerAllocationMessage,
  quotaMessage,
  usageMessage,
  watchEventMessage,
} from "./wire-claims.js";

/** The claim methods of the service (service.ts adds the registry methods). */
type ClaimMethods =
  | "findCandidates"
  | "claim"
  | "claimBest"
  | "release"
  | "getAllocations"
  | "listProviderAllocations"
  | "getUsages"
  | "getProviderUsages"
  | "reshape"
  | "setQuota"
  | "getQuotas"
  | "watchProviders";

const principal = principalOf;

/** The handlers of the claim RPCs. */
export function claimHandlers(
  deps: ResourceRuntime,
): Pick<ServiceImpl<typeof ResourceService>, ClaimMethods> {
  const { store } = deps;
  const search: SearchDeps = { ...deps, snapshots: deps.index };
  const claimed = (r: ClaimResult) => ({
    ...(r.consumer && { consumer: consumerMessage(r.consumer) }),
    allocations: r.allocations.map(allocationMessage),
  });
  return {
    async findCandidates(req, ctx) {
      const caller = callerOf(ctx);
      const { query, given } = await decodeQuery(deps, caller, req.query);
      const project = validate.decodeProjectRef(req);
      return candidatesResponse(await findCandidatesFor(search, caller, query, given, project));
    },
    async claim(req, ctx) {
      const input = await validate.decodeClaim(store, req);
      const result = await claim(deps, callerOf(ctx), input);
      return claimed(result);
    },
    async claimBest(req, ctx) {
      const caller = callerOf(ctx);
      const input = await validate.decodeClaimBest(deps, caller, req);
      const result = await claimBest(search, caller, input);
      return { ...claimed(result), attempts: result.attempts };
    },
    async release(req, ctx) {
      await consumers.release(store, principal(ctx), validate.decodeRelease(req));
      return {};
    },
    async getAllocations(req, ctx) {
      const ref = validate.decodeConsumerRef(req);
      return claimed(await consumers.getAllocations(store, principal(ctx), ref));
    },
    async listProviderAllocations(req, ctx) {
      const input = validate.decodeListProviderAllocations(req);
      const page = await usages.listProviderAllocations(store, principal(ctx), input);
      return {
        allocations: page.items.map(providerAllocationMessage),
        nextPageToken: page.nextPageToken,
      };
    },
    async getUsages(req, ctx) {
      const result = await usages.getUsages(deps, callerOf(ctx), validate.decodeGetUsages(req));
      return {
        usages: result.usages.map(usageMessage),
        consumerCount: BigInt(result.consumerCount),
      };
    },
    async getProviderUsages(req, ctx) {
      const ref = validate.decodeProviderRef(req);
      const result = await usages.getProviderUsages(store, principal(ctx), ref);
      return {
        generation: BigInt(result.generation),
        usages: result.usages.map(resourceSummaryMessage),
      };
    },
    async reshape(req, ctx) {
      await reshape(store, principal(ctx), await validate.decodeReshape(store, req));
      return {};
    },
    async setQuota(req, ctx) {
      const input = await validate.decodeSetQuota(store, req);
      return { quota: quotaMessage(await quotas.setQuota(deps, callerOf(ctx), input)) };
    },
    async getQuotas(req, ctx) {
      const project = validate.decodeProjectRef(req);
      const list = await quotas.getQuotas(deps, callerOf(ctx), project);
      return { quotas: list.map(quotaMessage) };
    },
    async *watchProviders(req, ctx) {
      const input = validate.decodeWatch(req);
      const events = watchProviders(deps, callerOf(ctx), input, ctx.signal);
      for await (const event of events) yield watchEventMessage(event);
    },
  };
}

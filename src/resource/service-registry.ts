/**
 * The registry RPCs of ResourceService: classes, capabilities, providers, inventories and
 * groups. Each handler decodes (validate.ts), calls the domain with the caller (the
 * interceptor already applied policy.ts), and encodes (wire.ts). Nothing else happens here.
 */
import type { ServiceImpl } from "@connectrpc/connect";
import type { ResourceService } from "../gen/mulligan/resource/v1/resource_pb.js";
import { callerOf, principalOf } from "../platform/caller.js";
import * as capabilities from "./capabilities.js";
import * as classes from "./classes.js";
import * as groups from "./groups.js";
import * as inventories from "./inventories.js";
import type { ResourceDeps } from "./module.js";
import * as providers from "./providers.js";
import * as validate from "./validate.js";
import {
  capabilityMessage,
  inventoryMessage,
  providerGroupMessage,
  providerMessage,
  resourceClassMessage,
  resourceSummaryMessage,
} from "./wire.js";

/** The registry methods of the service (service.ts adds the claim methods). */
type RegistryMethods =
  | "listResourceClasses"
  | "createResourceClass"
  | "deleteResourceClass"
  | "listCapabilities"
  | "createCapability"
  | "deleteCapability"
  | "createProvider"
  | "getProvider"
  | "listProviders"
  | "updateProvider"
  | "deleteProvider"
  | "setInventories"
  | "getInventories"
  | "setProviderCapabilities"
  | "createProviderGroup"
  | "listProviderGroups"
  | "setProviderGroups";

const principal = principalOf;

/** The handlers of the registry RPCs. */
export function registryHandlers(
  deps: ResourceDeps,
): Pick<ServiceImpl<typeof ResourceService>, RegistryMethods> {
  const { store } = deps;
  return {
    async listResourceClasses(req) {
      const page = await classes.listClasses(store, validate.decodeListResourceClasses(req));
      return {
        resourceClasses: page.items.map(resourceClassMessage),
        nextPageToken: page.nextPageToken,
      };
    },
    async createResourceClass(req, ctx) {
      const c = await classes.createClass(store, principal(ctx), validate.decodeCreateName(req));
      return { resourceClass: resourceClassMessage(c) };
    },
    async deleteResourceClass(req, ctx) {
      await classes.deleteClass(store, principal(ctx), validate.decodeDeleteName(req));
      return {};
    },
    async listCapabilities(req) {
      const page = await capabilities.listCapabilities(store, validate.decodeListCapabilities(req));
      return { capabilities: page.items.map(capabilityMessage), nextPageToken: page.nextPageToken };
    },
    async createCapability(req, ctx) {
      const input = validate.decodeCreateName(req);
      const c = await capabilities.createCapability(store, principal(ctx), input);
      return { capability: capabilityMessage(c) };
    },
    async deleteCapability(req, ctx) {
      await capabilities.deleteCapability(store, principal(ctx), validate.decodeDeleteName(req));
      return {};
    },
    async createProvider(req, ctx) {
      const input = validate.decodeCreateProvider(req);
      const p = await providers.createProvider(deps, callerOf(ctx), input);
      return { provider: providerMessage(p) };
    },
    async getProvider(req, ctx) {
      const p = await providers.getProvider(deps, callerOf(ctx), validate.decodeProviderRef(req));
      return { provider: providerMessage(p) };
    },
    async listProviders(req, ctx) {
      const input = validate.decodeListProviders(req);
      const page = await providers.listProviders(deps, callerOf(ctx), input);
      return { providers: page.items.map(providerMessage), nextPageToken: page.nextPageToken };
    },
    async updateProvider(req, ctx) {
      const input = validate.decodeUpdateProvider(req);
      const p = await providers.updateProvider(deps, callerOf(ctx), input);
      return { provider: providerMessage(p) };
    },
    async deleteProvider(req, ctx) {
      await providers.deleteProvider(deps, callerOf(ctx), validate.decodeDeleteProvider(req));
      return {};
    },
    async setInventories(req, ctx) {
      const input = validate.decodeSetInventories(req);
      const r = await inventories.setInventories(deps, callerOf(ctx), input);
      return {
        provider: providerMessage(r.provider),
        inventories: r.inventories.map(inventoryMessage),
        overCapacity: r.overCapacity.map(resourceSummaryMessage),
      };
    },
    async getInventories(req, ctx) {
      const ref = validate.decodeProviderRef(req);
      const r = await inventories.getInventories(deps, callerOf(ctx), ref);
      return {
        generation: BigInt(r.generation),
        inventories: r.inventories.map(inventoryMessage),
      };
    },
    async setProviderCapabilities(req, ctx) {
      const input = validate.decodeSetProviderCapabilities(req);
      const p = await capabilities.setProviderCapabilities(deps, callerOf(ctx), input);
      return { provider: providerMessage(p) };
    },
    async createProviderGroup(req, ctx) {
      const input = validate.decodeCreateProviderGroup(req);
      const g = await groups.createGroup(store, principal(ctx), input);
      return { group: providerGroupMessage(g) };
    },
    async listProviderGroups(req, ctx) {
      const input = validate.decodeListProviderGroups(req);
      const page = await groups.listGroups(store, principal(ctx), input);
      return { groups: page.items.map(providerGroupMessage), nextPageToken: page.nextPageToken };
    },
    async setProviderGroups(req, ctx) {
      const input = validate.decodeSetProviderGroups(req);
      const p = await groups.setProviderGroups(deps, callerOf(ctx), input);
      return { provider: providerMessage(p) };
    },
  };
}

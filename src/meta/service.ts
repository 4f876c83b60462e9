/**
 * MetadataService handlers: decode (validate.ts) → caller (the interceptor already applied
 * policy.ts) → domain → encode (wire.ts). Nothing else happens here.
 */
import type { ServiceImpl } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { MetadataService } from "../gen/mulligan/meta/v1/meta_pb.js";
import { callerOf, principalOf } from "../platform/caller.js";
import { configureHandler } from "../platform/runtime-settings.js";
import type { MetaDeps } from "./access.js";
import * as objects from "./objects.js";
import * as properties from "./properties.js";
import * as regions from "./regions.js";
import * as search from "./search.js";
import * as validate from "./validate.js";
import { definitionMessage, lookupResultMessage, objectMessage, regionMessage } from "./wire.js";

/** The handlers of every MetadataService RPC. */
export function metadataService(
  deps: MetaDeps & { logger: Logger },
): ServiceImpl<typeof MetadataService> {
  const { store, logger } = deps;
  return {
    async createRegion(req, ctx) {
      const r = await regions.createRegion(
        store,
        principalOf(ctx),
        validate.decodeCreateRegion(req),
      );
      return { region: regionMessage(r) };
    },
    async getRegion(req, ctx) {
      const r = await regions.getRegion(store, principalOf(ctx), validate.decodeGetRegion(req));
      return { region: regionMessage(r) };
    },
    async listRegions(req, ctx) {
      const page = await regions.listRegions(
        store,
        principalOf(ctx),
        validate.decodeListRegions(req),
      );
      return { regions: page.items.map(regionMessage), nextPageToken: page.nextPageToken };
    },
    async updateRegion(req, ctx) {
      const r = await regions.updateRegion(
        store,
        principalOf(ctx),
        validate.decodeUpdateRegion(req),
      );
      return { region: regionMessage(r) };
    },
    async deleteRegion(req, ctx) {
      await regions.deleteRegion(store, principalOf(ctx), validate.decodeDeleteRegion(req));
      return {};
    },
    async registerObject(req, ctx) {
      const o = await objects.registerObject(
        deps,
        callerOf(ctx),
        validate.decodeRegisterObject(req),
      );
      return { object: objectMessage(o) };
    },
    async getObject(req, ctx) {
      const o = await objects.getObject(deps, callerOf(ctx), validate.decodeGetObject(req));
      return { object: objectMessage(o) };
    },
    async updateObject(req, ctx) {
      const o = await objects.updateObject(deps, callerOf(ctx), validate.decodeUpdateObject(req));
      return { object: objectMessage(o) };
    },
    async deleteObject(req, ctx) {
      await objects.deleteObject(deps, callerOf(ctx), validate.decodeObjectMutation(req));
      return {};
    },
    async lookupObjects(req, ctx) {
      const results = await search.lookupObjects(
        deps,
        callerOf(ctx),
        validate.decodeLookupObjects(req),
      );
      return { results: results.map(lookupResultMessage) };
    },
    async findObjects(req, ctx) {
      const page = await search.findObjects(deps, callerOf(ctx), validate.decodeFindObjects(req));
      return { objects: page.items.map(objectMessage), nextPageToken: page.nextPageToken };
    },
    async setTags(req, ctx) {
      const o = await objects.setTags(deps, callerOf(ctx), validate.decodeSetTags(req));
      return { object: objectMessage(o) };
    },
    async defineProperty(req, ctx) {
      const d = await properties.defineProperty(
        store,
        principalOf(ctx),
        validate.decodeDefineProperty(req),
      );
      return { definition: definitionMessage(d) };
    },
    async listPropertyDefinitions(req) {
      const page = await properties.listDefinitions(
        store,
        validate.decodeListPropertyDefinitions(req),
      );
      return { definitions: page.items.map(definitionMessage), nextPageToken: page.nextPageToken };
    },
    async deletePropertyDefinition(req, ctx) {
      await properties.deleteDefinition(
        store,
        principalOf(ctx),
        validate.decodeDeletePropertyDefinition(req),
      );
      return {};
    },
    async setProperties(req, ctx) {
      const o = await objects.setProperties(deps, callerOf(ctx), validate.decodeSetProperties(req));
      return { object: objectMessage(o) };
    },
    configure: configureHandler(logger),
  };
}

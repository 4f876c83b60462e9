/**
 * NodeService handlers: decode (node-validate.ts), call the domain (nodes.ts) with the caller,
 * encode (node-wire.ts).
 */
import type { ServiceImpl } from "@connectrpc/connect";
import type { NodeService } from "../gen/mulligan/control/v1/node_pb.js";
import { callerOf, principalOf } from "../platform/caller.js";
import type { ControlDeps } from "./deps.js";
import * as validate from "./node-validate.js";
import { nodeMessage } from "./node-wire.js";
import * as nodes from "./nodes.js";

export function nodeService(deps: ControlDeps): ServiceImpl<typeof NodeService> {
  return {
    async enrollNode(req, ctx) {
      const n = await nodes.enrollNode(deps, callerOf(ctx), validate.decodeEnrollNode(req));
      return { node: nodeMessage(n) };
    },
    async getNode(req, ctx) {
      const n = await nodes.getNode(deps, principalOf(ctx), validate.decodeNodeRef(req));
      return { node: nodeMessage(n) };
    },
    async listNodes(req, ctx) {
      const page = await nodes.listNodes(deps, principalOf(ctx), validate.decodeListNodes(req));
      return { nodes: page.items.map(nodeMessage), nextPageToken: page.nextPageToken };
    },
    async inspectNode(req, ctx) {
      const n = await nodes.inspectNode(deps, principalOf(ctx), validate.decodeNodeStep(req));
      return { node: nodeMessage(n) };
    },
    async cleanNode(req, ctx) {
      const n = await nodes.cleanNode(deps, principalOf(ctx), validate.decodeNodeStep(req));
      return { node: nodeMessage(n) };
    },
    async setMaintenance(req, ctx) {
      const n = await nodes.setMaintenance(
        deps,
        principalOf(ctx),
        validate.decodeSetMaintenance(req),
      );
      return { node: nodeMessage(n) };
    },
    async deleteNode(req, ctx) {
      await nodes.deleteNode(deps, principalOf(ctx), validate.decodeNodeStep(req));
      return {};
    },
  };
}

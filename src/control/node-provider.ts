/**
 * A node as the resource engine sees it, kept through ResourceService's contract (like
 * placement.ts, never resource's tables): a root provider with the node's UUID and name in
 * its region, one unit of CUSTOM_BAREMETAL_<FLAVOR> once inspected, and the capabilities its
 * inspection found (CPU architecture and flags) with those named in its `capabilities` property. The unit is reserved whenever the node must not be
 * handed out (not AVAILABLE/DEPLOYING/ACTIVE, or in maintenance), as Ironic does for Nova.
 */
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import type { ResourceService } from "../gen/mulligan/resource/v1/resource_pb.js";
import { fromConnectError } from "../platform/grpc-errors.js";
import type { Node } from "./node-model.js";

/** What the node lifecycle needs from the resource engine. */
export interface NodeProviders {
  /** Creates the node's provider (idempotent). */
  ensure(node: Node): Promise<void>;
  /** Publishes the node's inventory, reservation and capabilities as they follow from its record. */
  sync(node: Node): Promise<void>;
  /** Deletes the node's provider (nothing to delete is fine). */
  remove(node: Node): Promise<void>;
}

const GENERATION_ATTEMPTS = 5;

/** True when the node may be claimed by a new machine (or holds its machine's claim). */
export function schedulable(node: Node): boolean {
  return (
    !node.maintenance &&
    (node.state === "AVAILABLE" || node.state === "DEPLOYING" || node.state === "ACTIVE")
  );
}

/**
 * The node's capabilities: those its hardware showed at inspection (CPU architecture and
 * flags) and those an operator gave it (its `capabilities` property, comma-separated).
 */
export function nodeCapabilities(node: Pick<Node, "properties" | "inventory">): string[] {
  const list = (node.properties.capabilities ?? "").split(",").map((c) => c.trim());
  const found = node.inventory?.capabilities ?? [];
  return [...new Set([...found, ...list.filter((c) => c !== "")])].sort();
}

async function ignoring<T>(codes: Code[], call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (err) {
    if (codes.includes(ConnectError.from(err).code)) return undefined;
    throw fromConnectError(err);
  }
}

async function withGeneration(step: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      if (ConnectError.from(err).code !== Code.Aborted || attempt >= GENERATION_ATTEMPTS)
        throw fromConnectError(err);
    }
  }
}

/** The node providers behind a ResourceService client holding a fleet-wide identity. */
export function resourceNodeProviders(client: Client<typeof ResourceService>): NodeProviders {
  return {
    async ensure(node) {
      await ignoring(
        [Code.AlreadyExists],
        client.createProvider({
          requestId: `enroll-node:${node.uuid}`,
          uuid: node.uuid,
          name: node.name,
          region: node.regionUuid,
        }),
      );
    },
    async sync(node) {
      if (!node.inventory) return;
      await ignoring(
        [Code.AlreadyExists],
        client.createResourceClass({ name: node.resourceClass }),
      );
      await withGeneration(async () => {
        const current = await client.getInventories({ provider: node.uuid });
        await client.setInventories({
          provider: node.uuid,
          generation: current.generation,
          inventories: [
            {
              resourceClass: node.resourceClass,
              total: 1n,
              reserved: schedulable(node) ? 0n : 1n,
              minUnit: 1n,
              maxUnit: 1n,
              stepSize: 1n,
              allocationRatio: 1,
            },
          ],
        });
      });
      const wanted = nodeCapabilities(node);
      for (const c of wanted.filter((x) => x.startsWith("CUSTOM_")))
        await ignoring([Code.AlreadyExists], client.createCapability({ name: c }));
      await withGeneration(async () => {
        const p = (await client.getProvider({ provider: node.uuid })).provider;
        if (!p) return;
        const have = [...p.capabilities].sort();
        if (have.join(",") === wanted.join(",")) return;
        await client.setProviderCapabilities({
          provider: node.uuid,
          generation: p.generation,
          capabilities: wanted,
        });
      });
    },
    async remove(node) {
      await ignoring([Code.NotFound], client.deleteProvider({ provider: node.uuid }));
    },
  };
}

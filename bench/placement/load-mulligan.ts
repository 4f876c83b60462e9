/**
 * Loads a Fleet into Mulligan through its public gRPC API, trees in parallel (a tree's
 * providers in order, parents first): CreateProvider (with the same UUID as in Placement, roots
 * in one bench region), SetInventories, SetProviderCapabilities (Placement's traits),
 * SetProviderGroups (Placement's aggregates: one group per aggregate, named by groupName), each
 * with the generation the previous answer gave. Custom capabilities and classes are created
 * first, as in Placement.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { MetadataService } from "../../src/gen/mulligan/meta/v1/meta_pb.js";
import { ResourceService } from "../../src/gen/mulligan/resource/v1/resource_pb.js";
import type { MulliganServer } from "../lib/server.js";
import { runConcurrent } from "../lib/stats.js";
import type { Fleet, ProviderSpec } from "./fleets.js";

/** The region every bench root lives in. */
export const BENCH_REGION = "placement-bench";

/** A loading call that has not answered by then has hung: fail instead of waiting forever. */
const CALL = { timeoutMs: 120_000 };

/** The Mulligan group standing for a Placement aggregate. */
export function groupName(aggregateUuid: string): string {
  return `agg-${aggregateUuid}`;
}

async function ignoreExists(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (ConnectError.from(err).code !== Code.AlreadyExists) throw err;
  }
}

function generationOf(r: { provider?: { generation: bigint } }): bigint {
  if (!r.provider) throw new Error("no provider in answer");
  return r.provider.generation;
}

async function loadProvider(server: MulliganServer, conn: number, p: ProviderSpec) {
  const res = server.client(ResourceService, { connection: conn });
  let generation = generationOf(
    await res.createProvider(
      {
        uuid: p.uuid,
        name: p.name,
        parent: p.parent ?? "",
        region: p.parent ? "" : BENCH_REGION,
      },
      CALL,
    ),
  );
  const inventories = Object.entries(p.inventories).map(([resourceClass, inv]) => ({
    resourceClass,
    total: BigInt(inv.total),
    reserved: BigInt(inv.reserved ?? 0),
    minUnit: BigInt(inv.minUnit ?? 0),
    maxUnit: BigInt(inv.maxUnit ?? 0),
    stepSize: BigInt(inv.stepSize ?? 0),
    allocationRatio: inv.allocationRatio ?? 0,
  }));
  if (inventories.length > 0)
    generation = generationOf(
      await res.setInventories({ provider: p.uuid, generation, inventories }, CALL),
    );
  if (p.traits.length > 0)
    generation = generationOf(
      await res.setProviderCapabilities(
        { provider: p.uuid, generation, capabilities: p.traits },
        CALL,
      ),
    );
  if (p.aggregates.length > 0)
    await res.setProviderGroups(
      {
        provider: p.uuid,
        generation,
        groups: p.aggregates.map(groupName),
      },
      CALL,
    );
}

/** Creates the region, custom names and groups, then every tree, `concurrency` at a time. */
export async function loadIntoMulligan(
  server: MulliganServer,
  fleet: Fleet,
  concurrency: number,
  log: (line: string) => void,
): Promise<void> {
  const res = server.client(ResourceService);
  await ignoreExists(server.client(MetadataService).createRegion({ name: BENCH_REGION }));
  for (const name of fleet.customTraits) await ignoreExists(res.createCapability({ name }));
  for (const name of fleet.customClasses) await ignoreExists(res.createResourceClass({ name }));
  for (const a of fleet.aggregates)
    await ignoreExists(res.createProviderGroup({ name: groupName(a) }));
  const step = Math.max(1, Math.floor(fleet.trees.length / 10));
  let done = 0;
  await runConcurrent(concurrency, { count: fleet.trees.length }, async ({ seq, worker }) => {
    for (const p of fleet.trees[seq] ?? []) await loadProvider(server, worker % 4, p);
    done += 1;
    if (done % step === 0) log(`mulligan: loaded ${done}/${fleet.trees.length} trees`);
  });
}

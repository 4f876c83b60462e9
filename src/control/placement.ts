/**
 * How control asks the resource part for capacity: through ResourceService's own contract (a
 * connect client — in-process over a router transport when co-hosted), never its tables. This
 * adapter is the one place where control meets resource's messages; the domain sees plain data.
 */
import { fromJson } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import {
  type Allocation,
  DistanceConstraint_Relation,
  GroupLevel,
  RequestGroupSchema,
  type ResourceService,
  Weigher,
} from "../gen/mulligan/resource/v1/resource_pb.js";
import type { MulliganError } from "../platform/errors.js";
import { fromConnectError } from "../platform/grpc-errors.js";
import type { HeldAllocation, MachineDistance, RequestGroupJson } from "./model.js";

/** The consumer type of a machine's allocations. */
export const MACHINE_CONSUMER_TYPE = "MACHINE";

/** What control needs from the resource engine. */
export interface Placement {
  /**
   * Checks a request against the fleet as it is: throws the resource part's INVALID_ARGUMENT or
   * NOT_FOUND for a bad request (field paths under `spec.groups`); undefined when something fits,
   * else the engine's explanation of the constraint that emptied the candidate set.
   */
  explain(req: PlacementRequest): Promise<string | undefined>;
  /** Finds, weighs and claims the best candidate for the consumer (RESOURCE_EXHAUSTED if none). */
  claimBest(req: PlacementRequest & ConsumerRef): Promise<HeldAllocation[]>;
  /** The consumer's current allocations (empty if none). */
  allocations(consumer: string): Promise<HeldAllocation[]>;
  /** Releases everything the consumer holds; releasing nothing is fine. */
  release(consumer: string): Promise<void>;
  /** The root of a provider's tree (the host a machine lands on). */
  rootOf(provider: string): Promise<{ uuid: string; name: string }>;
  /** A provider by name or UUID, undefined if none. */
  findProvider(ref: string): Promise<{ uuid: string; name: string } | undefined>;
}

export interface PlacementRequest {
  groups: readonly RequestGroupJson[];
  /** Affinity and anti-affinity with other machines (consumers). */
  distance: readonly MachineDistance[];
  /** Region UUID ("" for anywhere). */
  region: string;
  /** Project whose quota applies. */
  projectUuid: string;
  /** Host (root provider) UUIDs to avoid. */
  avoidHosts: readonly string[];
}

export interface ConsumerRef {
  consumer: string;
  ownerUuid: string;
}

function held(allocations: readonly Allocation[]): HeldAllocation[] {
  return allocations.map((a) => ({
    providerUuid: a.providerUuid,
    providerName: a.providerName,
    resources: Object.fromEntries(Object.entries(a.resources).map(([k, v]) => [k, Number(v)])),
  }));
}

const RELATIONS = {
  same: DistanceConstraint_Relation.SAME,
  different: DistanceConstraint_Relation.DIFFERENT,
};
const LEVELS = { rack: GroupLevel.RACK, row: GroupLevel.ROW, site: GroupLevel.SITE };

/** A machine's distance constraint as the resource API spells it (queries and the spec echo). */
export function distanceConstraint(d: MachineDistance) {
  return { relation: RELATIONS[d.relation], level: LEVELS[d.level], consumers: [...d.consumers] };
}

/** The resource engine behind a ResourceService client holding a fleet-wide identity. */
export function resourcePlacement(client: Client<typeof ResourceService>): Placement {
  const query = (req: PlacementRequest, limit: number) => ({
    groups: req.groups.map((g) => fromJson(RequestGroupSchema, g as never)),
    distance: req.distance.map(distanceConstraint),
    region: req.region,
    forbiddenTrees: [...req.avoidHosts],
    limit,
  });
  const rethrow = (err: unknown): never => {
    const e: MulliganError = fromConnectError(err);
    throw e;
  };
  return {
    async explain(req) {
      const r = await client
        .findCandidates({ query: query(req, 1), project: req.projectUuid })
        .catch(rethrow);
      return r.candidates.length > 0 ? undefined : (r.explanation?.summary ?? "nothing fits");
    },
    async claimBest(req) {
      const r = await client
        .claimBest({
          consumer: req.consumer,
          project: req.projectUuid,
          user: req.ownerUuid,
          consumerType: MACHINE_CONSUMER_TYPE,
          query: query(req, 0),
          weigher: Weigher.SPREAD,
        })
        .catch(rethrow);
      return held(r.allocations);
    },
    async allocations(consumer) {
      try {
        return held((await client.getAllocations({ consumer })).allocations);
      } catch (err) {
        if (ConnectError.from(err).code === Code.NotFound) return [];
        return rethrow(err);
      }
    },
    async release(consumer) {
      try {
        await client.release({ consumer });
      } catch (err) {
        if (ConnectError.from(err).code !== Code.NotFound) rethrow(err);
      }
    },
    async rootOf(provider) {
      const p = (await client.getProvider({ provider }).catch(rethrow)).provider;
      return { uuid: p?.rootUuid ?? provider, name: p?.rootName ?? "" };
    },
    async findProvider(ref) {
      try {
        const p = (await client.getProvider({ provider: ref })).provider;
        return p && { uuid: p.uuid, name: p.name };
      } catch (err) {
        if (ConnectError.from(err).code === Code.NotFound) return undefined;
        return rethrow(err);
      }
    },
  };
}

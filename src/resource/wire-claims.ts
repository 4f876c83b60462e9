/**
 * Claim-side domain objects → ResourceService messages (the encode step of
 * service-claims.ts): times become google.protobuf.Timestamp, amounts int64 (bigint).
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  type Allocation,
  AllocationSchema,
  type Candidate,
  type Consumer,
  ConsumerSchema,
  type Explanation,
  ExplanationSchema,
  type FindCandidatesResponse,
  type GroupMapping,
  type ProviderAllocation,
  ProviderAllocationSchema,
  type ProviderSummary,
  type Quota,
  QuotaSchema,
  type ResourceSummary,
  type Usage,
  UsageSchema,
  type WatchProvidersResponse,
  WatchProvidersResponse_Change,
  WatchProvidersResponseSchema,
} from "../gen/mulligan/resource/v1/resource_pb.js";
import type { FoundCandidates } from "./claim-best.js";
import type { AllocationView, ConsumerRecord } from "./consumers.js";
import type { ExplanationRecord } from "./model.js";
import type { QuotaRecord } from "./quotas.js";
import type { ProviderAllocationRecord, UsageRecord } from "./usages.js";
import type { WatchEvent } from "./watch.js";
import { inventoryMessage, providerMessage } from "./wire.js";

const timestamp = (iso: string) => timestampFromDate(new Date(iso));

const amounts = (r: Readonly<Record<string, number>>) =>
  Object.fromEntries(Object.entries(r).map(([k, n]) => [k, BigInt(n)]));

export function consumerMessage(c: ConsumerRecord): Consumer {
  return create(ConsumerSchema, {
    uuid: c.uuid,
    projectUuid: c.projectUuid,
    userUuid: c.userUuid,
    consumerType: c.consumerType,
    generation: BigInt(c.generation),
    window: {
      start: timestamp(c.window.start),
      ...(c.window.end !== null && { end: timestamp(c.window.end) }),
    },
  });
}

export function allocationMessage(a: AllocationView): Allocation {
  return create(AllocationSchema, {
    providerUuid: a.providerUuid,
    providerName: a.providerName,
    resources: amounts(a.resources),
  });
}

function explanationMessage(e: ExplanationRecord): Explanation {
  return create(ExplanationSchema, {
    summary: e.summary,
    steps: e.steps.map((s) => ({ ...s })),
  });
}

/**
 * Candidates with provider names, summaries, and the explanation when there is none. The
 * answer can hold thousands of messages, so they are written as complete message objects
 * (protobuf-es messages are plain objects with `$typeName`) rather than through `create`,
 * which walks the schema for every one: 55 ms → a few ms for 1,000 candidates.
 */
export function candidatesResponse(found: FoundCandidates): FindCandidatesResponse {
  const candidates: Candidate[] = found.candidates.map((c) => {
    const allocations: Allocation[] = [];
    for (const [uuid, resources] of c.allocations)
      allocations.push({
        $typeName: "mulligan.resource.v1.Allocation",
        providerUuid: uuid,
        providerName: found.providerNames.get(uuid) ?? "",
        resources: amounts(resources),
      });
    const mappings: GroupMapping[] = [];
    for (const [suffix, providerUuids] of c.mappings)
      mappings.push({
        $typeName: "mulligan.resource.v1.GroupMapping",
        suffix,
        providerUuids: [...providerUuids],
      });
    return { $typeName: "mulligan.resource.v1.Candidate", allocations, mappings };
  });
  const providerSummaries: ProviderSummary[] = found.summaries.map((s) => ({
    $typeName: "mulligan.resource.v1.ProviderSummary",
    providerUuid: s.uuid,
    providerName: s.name,
    parentUuid: s.parentUuid ?? "",
    rootUuid: s.rootUuid,
    resources: s.resources.map(
      (r): ResourceSummary => ({
        $typeName: "mulligan.resource.v1.ResourceSummary",
        resourceClass: r.resourceClass,
        capacity: BigInt(r.capacity),
        used: BigInt(r.used),
      }),
    ),
    capabilities: [...s.capabilities],
  }));
  return {
    $typeName: "mulligan.resource.v1.FindCandidatesResponse",
    candidates,
    providerSummaries,
    explanation: found.explanation ? explanationMessage(found.explanation) : undefined,
  };
}

export function providerAllocationMessage(a: ProviderAllocationRecord): ProviderAllocation {
  return create(ProviderAllocationSchema, {
    consumer: consumerMessage(a.consumer),
    resources: amounts(a.resources),
  });
}

export function usageMessage(u: UsageRecord): Usage {
  return create(UsageSchema, {
    resourceClass: u.resourceClass,
    used: BigInt(u.used),
    limit: BigInt(u.limit),
  });
}

export function quotaMessage(q: QuotaRecord): Quota {
  return create(QuotaSchema, {
    projectUuid: q.projectUuid,
    projectName: q.projectName,
    resourceClass: q.resourceClass,
    limit: BigInt(q.limit),
    used: BigInt(q.used),
  });
}

const CHANGES: Record<string, WatchProvidersResponse_Change> = {
  created: WatchProvidersResponse_Change.CREATED,
  updated: WatchProvidersResponse_Change.UPDATED,
  inventory: WatchProvidersResponse_Change.INVENTORY,
  usage: WatchProvidersResponse_Change.USAGE,
  deleted: WatchProvidersResponse_Change.DELETED,
};

/** A change; a provider that no longer exists is sent with its UUID only. */
export function watchEventMessage(e: WatchEvent): WatchProvidersResponse {
  return create(WatchProvidersResponseSchema, {
    change: CHANGES[e.change] ?? WatchProvidersResponse_Change.UPDATED,
    provider: e.provider ? providerMessage(e.provider) : { uuid: e.providerUuid },
    inventories: e.inventories.map(inventoryMessage),
    sequence: BigInt(e.seq),
  });
}

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
import type { CandidateRecord, ExplanationRecord, ProviderSummaryRecord } from "./model.js";
import type { QuotaRecord } from "./quotas.js";
import type { ProviderAllocationRecord, UsageRecord } from "./usages.js";
import type { WatchEvent } from "./watch.js";
import { inventoryMessage, providerMessage } from "./wire.js";
import { keepEncoding } from "./wire-encode.js";

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

/** The message built for a record the last time it was sent (records are never changed). */
const candidateMessages = new WeakMap<CandidateRecord, Candidate>();
const summaryMessages = new WeakMap<ProviderSummaryRecord, ProviderSummary>();

/**
 * The message of a record: built on its first answer, the same object on the next ones — then
 * marked for its encoding to be kept (wire-encode.ts). The kept search (engine/kept-search.ts)
 * answers with the same records while their trees are unchanged, so a repeated query builds and
 * encodes only what changed.
 */
function messageOf<R extends object, M extends Candidate | ProviderSummary>(
  cache: WeakMap<R, M>,
  record: R,
  build: (record: R) => M,
): M {
  let message = cache.get(record);
  if (message) keepEncoding(message);
  else {
    message = build(record);
    cache.set(record, message);
  }
  return message;
}

/**
 * Candidates with provider names, summaries, and the explanation when there is none. The
 * answer can hold thousands of messages, so they are written as complete message objects
 * (protobuf-es messages are plain objects with `$typeName`) rather than through `create`,
 * which walks the schema for every one: 55 ms → a few ms for 1,000 candidates. A candidate's
 * provider names cannot change while it is the same record (a renamed provider changes the
 * fleet's shape, and the kept search makes new records).
 */
export function candidatesResponse(found: FoundCandidates): FindCandidatesResponse {
  const candidates = found.candidates.map((c) =>
    messageOf(candidateMessages, c, (record): Candidate => {
      const allocations: Allocation[] = [];
      for (const [uuid, resources] of record.allocations)
        allocations.push({
          $typeName: "mulligan.resource.v1.Allocation",
          providerUuid: uuid,
          providerName: found.providerNames.get(uuid) ?? "",
          resources: amounts(resources),
        });
      const mappings: GroupMapping[] = [];
      for (const [suffix, providerUuids] of record.mappings)
        mappings.push({
          $typeName: "mulligan.resource.v1.GroupMapping",
          suffix,
          providerUuids: [...providerUuids],
        });
      return { $typeName: "mulligan.resource.v1.Candidate", allocations, mappings };
    }),
  );
  const providerSummaries = found.summaries.map((s) =>
    messageOf(
      summaryMessages,
      s,
      (record): ProviderSummary => ({
        $typeName: "mulligan.resource.v1.ProviderSummary",
        providerUuid: record.uuid,
        providerName: record.name,
        parentUuid: record.parentUuid ?? "",
        rootUuid: record.rootUuid,
        resources: record.resources.map(
          (r): ResourceSummary => ({
            $typeName: "mulligan.resource.v1.ResourceSummary",
            resourceClass: r.resourceClass,
            capacity: BigInt(r.capacity),
            used: BigInt(r.used),
          }),
        ),
        capabilities: [...record.capabilities],
      }),
    ),
  );
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

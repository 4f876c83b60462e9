/**
 * Every claim-side request of ResourceService decoded in one place: proto request → plain
 * domain input (queries in validate-query.ts). Names that must exist are checked here, before
 * any transaction starts.
 */
import {
  type ClaimBestRequest,
  type ClaimRequest,
  type GetUsagesRequest,
  type ListProviderAllocationsRequest,
  type ReleaseRequest,
  type ReshapeRequest,
  type SetQuotaRequest,
  type WatchProvidersRequest,
  Weigher,
} from "../gen/mulligan/resource/v1/resource_pb.js";
import type { Caller } from "../platform/caller.js";
import { nowIso } from "../platform/ids.js";
import { Violations } from "../platform/validate.js";
import type { Store } from "../store/store.js";
import type { AllocationInput, ClaimInput } from "./allocations.js";
import type { ReleaseInput } from "./consumers.js";
import type { WeigherName } from "./engine/weigh.js";
import type { QueryInput } from "./model.js";
import type { SetQuotaInput } from "./quotas.js";
import type { ReshapeInput } from "./reshape.js";
import type { ProviderAllocationsInput, UsagesInput } from "./usages.js";
import { generation, inventoryList } from "./validate.js";
import {
  checkNames,
  decodeQuery,
  decodeWindow,
  type GivenWindow,
  type QueryDeps,
  resources,
  uuidField,
} from "./validate-query.js";
import type { WatchInput } from "./watch.js";

const CONSUMER_TYPE_PATTERN = /^[A-Z0-9_]{0,255}$/;
const WEIGHERS: Record<number, WeigherName> = {
  [Weigher.UNSPECIFIED]: "spread",
  [Weigher.PACK]: "pack",
  [Weigher.SPREAD]: "spread",
  [Weigher.RANDOM_TOP_K]: "random_top_k",
};

/** consumer_generation: null when absent (then not checked). */
function consumerGeneration(v: Violations, value: bigint | undefined): number | null {
  return value === undefined ? null : generation(v, "consumer_generation", value);
}

function consumerType(v: Violations, value: string): string {
  if (!CONSUMER_TYPE_PATTERN.test(value))
    v.add("consumer_type", "CONSUMER_TYPE_INVALID", "must be up to 255 characters of [A-Z0-9_]");
  return value;
}

/** Claim: consumer, generation, owner, and the whole allocation set. */
export async function decodeClaim(store: Store, req: ClaimRequest): Promise<ClaimInput> {
  const v = new Violations();
  const classes: [string, string][] = [];
  const allocations: AllocationInput[] = req.allocations.map((a, i) => {
    const path = `allocations[${i}]`;
    const found: string[] = [];
    const res = resources(v, `${path}.resources`, a.resources, found);
    for (const cls of found) classes.push([`${path}.resources[${cls}]`, cls]);
    if (found.length === 0) v.add(`${path}.resources`, "FIELD_REQUIRED", "is required");
    return { provider: v.ref(`${path}.provider`, a.provider, true), resources: res };
  });
  const input: ClaimInput = {
    requestId: v.requestId("request_id", req.requestId),
    consumer: uuidField(v, "consumer", req.consumer, true),
    consumerGeneration: consumerGeneration(v, req.consumerGeneration),
    project: v.optionalRef("project", req.project),
    user: v.optionalRef("user", req.user),
    consumerType: consumerType(v, req.consumerType),
    allocations,
    window: decodeWindow(v, "window", req.window),
  };
  v.throwIfAny();
  await checkNames(store, v, classes, []);
  v.throwIfAny();
  return input;
}

/** A decoded ClaimBest request. */
export interface ClaimBestInput {
  requestId?: string;
  /** null: a new UUID. */
  consumer: string | null;
  project?: string;
  user?: string;
  consumerType: string;
  query: QueryInput;
  /** The query window as given (what a retried request repeats). */
  given: GivenWindow;
  weigher: WeigherName;
  topK: number;
}

/** ClaimBest: owner, query, weigher. */
export async function decodeClaimBest(
  deps: QueryDeps,
  caller: Caller,
  req: ClaimBestRequest,
): Promise<ClaimBestInput> {
  const head = Violations.decode((v) => {
    v.enumValue("weigher", req.weigher, Weigher, false);
    if (req.topK < 0) v.add("top_k", "TOP_K_INVALID", "must not be negative");
    return {
      requestId: v.requestId("request_id", req.requestId),
      consumer: uuidField(v, "consumer", req.consumer, false) || null,
      project: v.optionalRef("project", req.project),
      user: v.optionalRef("user", req.user),
      consumerType: consumerType(v, req.consumerType),
      weigher: WEIGHERS[req.weigher] ?? "spread",
      topK: req.topK === 0 ? 10 : req.topK,
    };
  });
  const { query, given } = await decodeQuery(deps, caller, req.query);
  return { ...head, query, given };
}

/** Release: the consumer, optionally generation-checked. */
export function decodeRelease(req: ReleaseRequest): ReleaseInput {
  return Violations.decode((v) => ({
    requestId: v.requestId("request_id", req.requestId),
    consumer: uuidField(v, "consumer", req.consumer, true),
    consumerGeneration: consumerGeneration(v, req.consumerGeneration),
  }));
}

/** GetAllocations: the consumer UUID. */
export function decodeConsumerRef(req: { consumer: string }): string {
  return Violations.decode((v) => uuidField(v, "consumer", req.consumer, true));
}

/** A required provider reference. */
export function decodeProviderRef(req: { provider: string }): string {
  return Violations.decode((v) => v.ref("provider", req.provider, true));
}

/** ListProviderAllocations: provider, page, optional window. */
export function decodeListProviderAllocations(
  req: ListProviderAllocationsRequest,
): ProviderAllocationsInput {
  return Violations.decode((v) => {
    const w = req.window ? decodeWindow(v, "window", req.window) : null;
    return {
      provider: v.ref("provider", req.provider, true),
      ...v.page(req),
      window: w && { start: w.start ?? nowIso(), end: w.end },
    };
  });
}

/** GetUsages: project, optionally one user or consumer type. */
export function decodeGetUsages(req: GetUsagesRequest): UsagesInput {
  return Violations.decode((v) => ({
    project: v.optionalRef("project", req.project),
    user: v.optionalRef("user", req.user),
    ...(req.consumerType !== "" && { consumerType: consumerType(v, req.consumerType) }),
  }));
}

/** SetQuota: project, a known class, a limit (-1 removes it). */
export async function decodeSetQuota(store: Store, req: SetQuotaRequest): Promise<SetQuotaInput> {
  const v = new Violations();
  const input = {
    requestId: v.requestId("request_id", req.requestId),
    project: v.ref("project", req.project, true),
    resourceClass: req.resourceClass,
    limit: Number(req.limit),
  };
  if (req.resourceClass === "") v.add("resource_class", "FIELD_REQUIRED", "is required");
  if (req.limit < -1n || req.limit > BigInt(Number.MAX_SAFE_INTEGER))
    v.add("limit", "AMOUNT_INVALID", "must be -1 (no limit) or a non-negative amount");
  v.throwIfAny();
  await checkNames(store, v, [["resource_class", req.resourceClass]], []);
  v.throwIfAny();
  return input;
}

/** An optional project reference (GetQuotas, FindCandidates; default: the caller's). */
export function decodeProjectRef(req: { project: string }): string | undefined {
  return Violations.decode((v) => v.optionalRef("project", req.project));
}

/** Reshape: new inventories of providers and new allocation sets of consumers. */
export async function decodeReshape(store: Store, req: ReshapeRequest): Promise<ReshapeInput> {
  const v = new Violations();
  const classes: [string, string][] = [];
  const inventories = req.inventories.map((p, i) => {
    const path = `inventories[${i}]`;
    p.inventories.forEach((inv, j) => {
      classes.push([`${path}.inventories[${j}].resource_class`, inv.resourceClass]);
    });
    const list = inventoryList(v, `${path}.inventories`, p.inventories);
    return {
      provider: v.ref(`${path}.provider`, p.provider, true),
      generation: generation(v, `${path}.generation`, p.generation),
      inventories: list,
    };
  });
  const allocations = req.allocations.map((c, i) => {
    const path = `allocations[${i}]`;
    return {
      consumer: uuidField(v, `${path}.consumer`, c.consumer, true),
      generation: generation(v, `${path}.consumer_generation`, c.consumerGeneration),
      allocations: c.allocations.map((a, j) => {
        const found: string[] = [];
        const res = resources(v, `${path}.allocations[${j}].resources`, a.resources, found);
        for (const cls of found) classes.push([`${path}.allocations[${j}].resources[${cls}]`, cls]);
        return {
          provider: v.ref(`${path}.allocations[${j}].provider`, a.provider, true),
          resources: res,
        };
      }),
    };
  });
  if (inventories.length === 0) v.add("inventories", "FIELD_REQUIRED", "is required");
  const input = { requestId: v.requestId("request_id", req.requestId), inventories, allocations };
  v.throwIfAny();
  await checkNames(store, v, classes, []);
  v.throwIfAny();
  return input;
}

/** WatchProviders: provider references and an optional region. */
export function decodeWatch(req: WatchProvidersRequest): WatchInput {
  return Violations.decode((v) => ({
    providers: req.providers.map((p, i) => v.ref(`providers[${i}]`, p, true)),
    region: v.optionalRef("region", req.region),
  }));
}

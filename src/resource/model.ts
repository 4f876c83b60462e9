/**
 * The resource part's domain vocabulary, shared by the registry (providers, inventories,
 * groups), the claims (consumers, allocations, quotas) and the engine. Plain data only: no
 * gRPC types, times as ISO strings (results must survive JSON for the request log).
 */

/** A half-open interval [start, end); end null = open-ended. ISO-8601 strings. */
export interface Window {
  start: string;
  end: string | null;
}

/** True if two half-open windows share an instant (touching windows do not overlap). */
export function overlaps(a: Window, b: Window): boolean {
  return (b.end === null || a.start < b.end) && (a.end === null || b.start < a.end);
}

export interface InventoryRecord {
  resourceClass: string;
  total: number;
  reserved: number;
  minUnit: number;
  maxUnit: number;
  stepSize: number;
  allocationRatio: number;
}

/** What can be allocated: floor((total − reserved) × allocation_ratio). */
export function capacityOf(inv: InventoryRecord): number {
  return Math.floor((inv.total - inv.reserved) * inv.allocationRatio);
}

/** True if one allocation of `amount` respects the inventory's min, max and step. */
export function fitsUnits(inv: InventoryRecord, amount: number): boolean {
  return amount >= inv.minUnit && amount <= inv.maxUnit && amount % inv.stepSize === 0;
}

export type GroupLevelName = "rack" | "row" | "site";

export interface GroupRecord {
  uuid: string;
  name: string;
  level: GroupLevelName | null;
}

export interface ProviderRecord {
  uuid: string;
  name: string;
  regionUuid: string;
  parentUuid: string | null;
  rootUuid: string;
  generation: number;
  capabilities: readonly string[];
  /** UUIDs of the groups the provider is in. */
  groups: readonly string[];
  inventories: ReadonlyMap<string, InventoryRecord>;
}

/** One row of a consumer's allocation set, with the consumer's window. */
export interface AllocationRecord {
  consumerUuid: string;
  providerUuid: string;
  resourceClass: string;
  amount: number;
  window: Window;
}

/** The capability that makes a provider share its inventory with trees in its groups. */
export const SHARING_CAPABILITY = "MISC_SHARES_VIA_AGGREGATE";

/** One request group of a query, decoded (names resolved to UUIDs). */
export interface RequestGroupInput {
  /** "" for the unnamed group. */
  suffix: string;
  /** Resource class → amount (every amount > 0). */
  resources: Readonly<Record<string, number>>;
  required: readonly string[];
  forbidden: readonly string[];
  /** Each set: at least one of its capabilities. */
  anyOf: readonly (readonly string[])[];
  /** Each set: member of at least one of its group UUIDs; all sets must hold. */
  memberOf: readonly (readonly string[])[];
  forbiddenGroups: readonly string[];
  /** Provider UUID whose tree bounds the group. */
  inTree: string | null;
}

export interface DistanceInput {
  relation: "same" | "different";
  level: GroupLevelName;
  consumers: readonly string[];
}

/** A decoded allocation-candidates query. */
export interface QueryInput {
  groups: readonly RequestGroupInput[];
  groupPolicy: "none" | "isolate" | null;
  sameSubtree: readonly (readonly string[])[];
  rootRequired: readonly string[];
  rootForbidden: readonly string[];
  /** Region UUIDs a provider must be in (a region and its sub-regions); null = anywhere. */
  regions: ReadonlySet<string> | null;
  distance: readonly DistanceInput[];
  /** Root provider UUIDs no candidate may come from. */
  forbiddenTrees?: ReadonlySet<string>;
  window: Window;
  /** 0 = no limit. */
  limit: number;
}

/** One way to satisfy a query. */
export interface CandidateRecord {
  /** Provider UUID → class → amount (amounts of one provider merged). */
  allocations: ReadonlyMap<string, Readonly<Record<string, number>>>;
  /** Suffix → provider UUIDs that satisfy that group. */
  mappings: ReadonlyMap<string, readonly string[]>;
}

export interface ResourceSummaryRecord {
  resourceClass: string;
  capacity: number;
  used: number;
}

export interface ProviderSummaryRecord {
  uuid: string;
  name: string;
  parentUuid: string | null;
  rootUuid: string;
  resources: readonly ResourceSummaryRecord[];
  capabilities: readonly string[];
}

/** One filtering step of a search, for explanations. */
export interface FilterStepRecord {
  constraint: string;
  suffix: string;
  before: number;
  after: number;
  detail: string;
  /** A request-wide step over trees (stage 2), not providers: how the explanation counts. */
  trees?: true;
}

export interface ExplanationRecord {
  summary: string;
  steps: readonly FilterStepRecord[];
}

export interface SearchResult {
  candidates: readonly CandidateRecord[];
  summaries: readonly ProviderSummaryRecord[];
  /** Set when there is no candidate. */
  explanation: ExplanationRecord | null;
}

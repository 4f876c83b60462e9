/**
 * Engine inputs built by hand for the pure search tests (src/resource/engine/*.test.ts): an
 * inventory, a request group and a query with every field at its default unless given.
 */
import type {
  InventoryRecord,
  QueryInput,
  RequestGroupInput,
  Window,
} from "../src/resource/model.js";

/** The window every fixture allocation and query uses. */
export const WINDOW: Window = { start: "2026-01-01T00:00:00.000Z", end: null };

/** An inventory of `total` (no reserve, ratio 1, units 1…total in steps of 1 unless given). */
export function inventory(
  resourceClass: string,
  total: number,
  extra: Partial<InventoryRecord> = {},
): InventoryRecord {
  return {
    resourceClass,
    total,
    reserved: 0,
    minUnit: 1,
    maxUnit: total,
    stepSize: 1,
    allocationRatio: 1,
    ...extra,
  };
}

/** A request group with no capability or group constraint unless given. */
export function requestGroup(
  suffix: string,
  resources: Record<string, number>,
  extra: Partial<RequestGroupInput> = {},
): RequestGroupInput {
  return {
    suffix,
    resources,
    required: [],
    forbidden: [],
    anyOf: [],
    memberOf: [],
    forbiddenGroups: [],
    inTree: null,
    ...extra,
  };
}

/** A query over WINDOW with no policy, constraint or limit unless given. */
export function queryInput(
  groups: RequestGroupInput[],
  extra: Partial<QueryInput> = {},
): QueryInput {
  return {
    groups,
    groupPolicy: null,
    sameSubtree: [],
    rootRequired: [],
    rootForbidden: [],
    regions: null,
    distance: [],
    window: WINDOW,
    limit: 0,
    ...extra,
  };
}

/**
 * Every registry request of ResourceService decoded and validated in one place: proto request
 * → plain domain input. All bad fields of a request are reported together as one
 * INVALID_ARGUMENT. Whether a class, capability, provider or group exists is the domain's
 * question; here only the shape of the request is checked.
 */
import {
  type CreateProviderGroupRequest,
  type CreateProviderRequest,
  GroupLevel,
  type Inventory,
  type ListCapabilitiesRequest,
  type ListProvidersRequest,
  type SetInventoriesRequest,
  type SetProviderCapabilitiesRequest,
  type SetProviderGroupsRequest,
  type UpdateProviderRequest,
} from "../gen/mulligan/resource/v1/resource_pb.js";
import { isUuid, Violations } from "../platform/validate.js";
import type { SetProviderCapabilitiesInput } from "./capabilities.js";
import type { CreateGroupInput, SetProviderGroupsInput } from "./groups.js";
import type { SetInventoriesInput } from "./inventories.js";
import type { GroupLevelName, InventoryRecord } from "./model.js";
import type {
  CreateProviderInput,
  DeleteProviderInput,
  ListProvidersInput,
  UpdateProviderInput,
} from "./providers.js";
import {
  CUSTOM_PREFIX,
  type ListNamesInput,
  type NameMutationInput,
  STANDARD_NAME_PATTERN,
} from "./standards.js";

/** Most entries in one list of a request (inventories, capabilities, groups). */
export const MAX_ENTRIES = 1000;

const LEVEL_NAMES: Record<number, GroupLevelName | null> = {
  [GroupLevel.UNSPECIFIED]: null,
  [GroupLevel.RACK]: "rack",
  [GroupLevel.ROW]: "row",
  [GroupLevel.SITE]: "site",
};

/** A class or capability name: upper-case letters, digits and '_'. */
function upperName(v: Violations, field: string, value: string): string {
  if (value === "") v.add(field, "FIELD_REQUIRED", "is required");
  else if (!STANDARD_NAME_PATTERN.test(value))
    v.add(field, "NAME_INVALID", "must be 1–255 characters of [A-Z0-9_]");
  return value;
}

/** A non-negative int64 that is a safe JS integer. */
function amount(v: Violations, field: string, value: bigint): number {
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
    v.add(field, "AMOUNT_INVALID", `must be between 0 and ${Number.MAX_SAFE_INTEGER}`);
    return 0;
  }
  return Number(value);
}

/** The generation a caller last saw (of a provider, or of a consumer in validate-claims.ts). */
export function generation(v: Violations, field: string, value: bigint): number {
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER))
    v.add(field, "GENERATION_INVALID", "must be a generation returned by the service");
  return Number(value);
}

/** A list no longer than MAX_ENTRIES, each entry checked, duplicates refused. */
function entries<T>(
  v: Violations,
  field: string,
  list: readonly T[],
  check: (item: T, path: string) => string,
  duplicateReason: string,
): string[] {
  if (list.length > MAX_ENTRIES)
    v.add(field, "TOO_MANY_ENTRIES", `must hold at most ${MAX_ENTRIES} entries`);
  const seen = new Set<string>();
  return list.map((item, i) => {
    const path = `${field}[${i}]`;
    const key = check(item, path);
    if (seen.has(key)) v.add(path, duplicateReason, `${key} is listed twice`);
    seen.add(key);
    return key;
  });
}

/** ListResourceClasses: a page. */
export function decodeListResourceClasses(req: {
  pageSize: number;
  pageToken: string;
}): ListNamesInput {
  return Violations.decode((v) => v.page(req));
}

/** ListCapabilities: a page, optionally of names with a prefix. */
export function decodeListCapabilities(req: ListCapabilitiesRequest): ListNamesInput {
  return Violations.decode((v) => ({
    ...v.page(req),
    prefix: v.text("prefix", req.prefix, 255) || undefined,
  }));
}

/** CreateResourceClass and CreateCapability: a CUSTOM_* name. */
export function decodeCreateName(req: { requestId: string; name: string }): NameMutationInput {
  return Violations.decode((v) => {
    const name = upperName(v, "name", req.name);
    if (STANDARD_NAME_PATTERN.test(name) && !/^CUSTOM_[A-Z0-9_]+$/.test(name))
      v.add("name", "CUSTOM_NAME_REQUIRED", `must start with ${CUSTOM_PREFIX}`);
    return { requestId: v.requestId("request_id", req.requestId), name };
  });
}

/** DeleteResourceClass and DeleteCapability: a name (standard ones are refused later). */
export function decodeDeleteName(req: { requestId: string; name: string }): NameMutationInput {
  return Violations.decode((v) => ({
    requestId: v.requestId("request_id", req.requestId),
    name: upperName(v, "name", req.name),
  }));
}

/** CreateProvider: a name, a region for a root (a child may inherit), an optional UUID. */
export function decodeCreateProvider(req: CreateProviderRequest): CreateProviderInput {
  return Violations.decode((v) => {
    const parent = v.optionalRef("parent", req.parent);
    const region = v.optionalRef("region", req.region);
    if (!parent && !region) v.add("region", "FIELD_REQUIRED", "is required for a root provider");
    if (req.uuid !== "" && !isUuid(req.uuid)) v.add("uuid", "UUID_INVALID", "must be a UUID");
    return {
      requestId: v.requestId("request_id", req.requestId),
      name: v.name("name", req.name),
      region,
      parent,
      uuid: req.uuid === "" ? undefined : req.uuid.toLowerCase(),
    };
  });
}

/** GetProvider, GetInventories: a provider name or UUID. */
export function decodeProviderRef(req: { provider: string }): string {
  return Violations.decode((v) => v.ref("provider", req.provider, true));
}

/** ListProviders: a page and its filters. */
export function decodeListProviders(req: ListProvidersRequest): ListProvidersInput {
  return Violations.decode((v) => ({
    ...v.page(req),
    region: v.optionalRef("region", req.region),
    inTree: v.optionalRef("in_tree", req.inTree),
    required: entries(
      v,
      "required",
      req.required,
      (n, p) => upperName(v, p, n),
      "DUPLICATE_CAPABILITY",
    ),
    memberOf: v.optionalRef("member_of", req.memberOf),
    namePrefix: v.text("name_prefix", req.namePrefix, 63) || undefined,
  }));
}

/** UpdateProvider: only masked fields come through (parent null = make it a root). */
export function decodeUpdateProvider(req: UpdateProviderRequest): UpdateProviderInput {
  return Violations.decode((v) => {
    const mask = v.updateMask("update_mask", req.updateMask?.paths, ["name", "parent", "region"]);
    return {
      requestId: v.requestId("request_id", req.requestId),
      provider: v.ref("provider", req.provider, true),
      generation: generation(v, "generation", req.generation),
      name: mask.has("name") ? v.name("name", req.name) : undefined,
      parent: mask.has("parent") ? (v.optionalRef("parent", req.parent) ?? null) : undefined,
      region: mask.has("region") ? v.ref("region", req.region, true) : undefined,
    };
  });
}

/** DeleteProvider: the provider and an optional request_id. */
export function decodeDeleteProvider(req: {
  requestId: string;
  provider: string;
}): DeleteProviderInput {
  return Violations.decode((v) => ({
    requestId: v.requestId("request_id", req.requestId),
    provider: v.ref("provider", req.provider, true),
  }));
}

/**
 * One inventory with Placement's defaults (min 1, max total, step 1, ratio 1.0) applied
 * (SetInventories, and each provider's inventories in Reshape).
 */
export function inventory(v: Violations, inv: Inventory, path: string): InventoryRecord {
  const total = amount(v, `${path}.total`, inv.total);
  const reserved = amount(v, `${path}.reserved`, inv.reserved);
  const minUnit = amount(v, `${path}.min_unit`, inv.minUnit) || 1;
  const maxUnit = amount(v, `${path}.max_unit`, inv.maxUnit) || total;
  const stepSize = amount(v, `${path}.step_size`, inv.stepSize) || 1;
  const ratio = inv.allocationRatio === 0 ? 1 : inv.allocationRatio;
  if (total < 1) v.add(`${path}.total`, "INVENTORY_INVALID", "must be at least 1");
  if (reserved > total)
    v.add(`${path}.reserved`, "INVENTORY_INVALID", "must not be greater than total");
  if (total >= 1 && maxUnit < minUnit)
    v.add(`${path}.max_unit`, "UNIT_CONSTRAINT", "must not be smaller than min_unit");
  if (!Number.isFinite(ratio) || ratio <= 0)
    v.add(`${path}.allocation_ratio`, "INVENTORY_INVALID", "must be a positive number");
  return {
    resourceClass: upperName(v, `${path}.resource_class`, inv.resourceClass),
    total,
    reserved,
    minUnit,
    maxUnit,
    stepSize,
    allocationRatio: ratio,
  };
}

/** A provider's whole inventory: each entry checked, a class listed twice refused. */
export function inventoryList(
  v: Violations,
  field: string,
  list: readonly Inventory[],
): InventoryRecord[] {
  const inventories: InventoryRecord[] = [];
  entries(
    v,
    field,
    list,
    (inv, path) => {
      const record = inventory(v, inv, path);
      inventories.push(record);
      return record.resourceClass;
    },
    "DUPLICATE_RESOURCE_CLASS",
  );
  return inventories;
}

/** SetInventories: the provider, its generation and the whole new inventory. */
export function decodeSetInventories(req: SetInventoriesRequest): SetInventoriesInput {
  return Violations.decode((v) => ({
    requestId: v.requestId("request_id", req.requestId),
    provider: v.ref("provider", req.provider, true),
    generation: generation(v, "generation", req.generation),
    inventories: inventoryList(v, "inventories", req.inventories),
  }));
}

/** SetProviderCapabilities: the provider, its generation and the whole new set. */
export function decodeSetProviderCapabilities(
  req: SetProviderCapabilitiesRequest,
): SetProviderCapabilitiesInput {
  return Violations.decode((v) => ({
    requestId: v.requestId("request_id", req.requestId),
    provider: v.ref("provider", req.provider, true),
    generation: generation(v, "generation", req.generation),
    capabilities: entries(
      v,
      "capabilities",
      req.capabilities,
      (n, p) => upperName(v, p, n),
      "DUPLICATE_CAPABILITY",
    ),
  }));
}

/** CreateProviderGroup: a name and an optional level. */
export function decodeCreateProviderGroup(req: CreateProviderGroupRequest): CreateGroupInput {
  return Violations.decode((v) => ({
    requestId: v.requestId("request_id", req.requestId),
    name: v.name("name", req.name),
    level: LEVEL_NAMES[v.enumValue("level", req.level, GroupLevel, false)] ?? null,
  }));
}

/** ListProviderGroups: a page. */
export function decodeListProviderGroups(req: { pageSize: number; pageToken: string }) {
  return Violations.decode((v) => v.page(req));
}

/** SetProviderGroups: the provider, its generation and the whole new membership. */
export function decodeSetProviderGroups(req: SetProviderGroupsRequest): SetProviderGroupsInput {
  return Violations.decode((v) => ({
    requestId: v.requestId("request_id", req.requestId),
    provider: v.ref("provider", req.provider, true),
    generation: generation(v, "generation", req.generation),
    groups: entries(v, "groups", req.groups, (g, p) => v.ref(p, g, true), "DUPLICATE_GROUP"),
  }));
}

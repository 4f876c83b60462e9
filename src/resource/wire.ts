/**
 * Registry domain objects → ResourceService messages (the encode step of
 * service-registry.ts): times become google.protobuf.Timestamp, amounts int64 (bigint), group
 * levels the generated enum.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  type Capability,
  CapabilitySchema,
  GroupLevel,
  type Inventory,
  InventorySchema,
  type ProviderGroup as ProviderGroupMessage,
  ProviderGroupSchema,
  type Provider as ProviderMessage,
  ProviderSchema,
  type ResourceClass,
  ResourceClassSchema,
  type ResourceSummary,
  ResourceSummarySchema,
} from "../gen/mulligan/resource/v1/resource_pb.js";
import type { ProviderGroup } from "./groups.js";
import type { InventoryView } from "./inventories.js";
import type { GroupLevelName, ResourceSummaryRecord } from "./model.js";
import type { Provider } from "./provider-records.js";
import type { NameEntry } from "./standards.js";

const LEVELS: Record<GroupLevelName, GroupLevel> = {
  rack: GroupLevel.RACK,
  row: GroupLevel.ROW,
  site: GroupLevel.SITE,
};

const timestamp = (iso: string) => timestampFromDate(new Date(iso));

/** A class as listed, standard or custom. */
export function resourceClassMessage(e: NameEntry): ResourceClass {
  return create(ResourceClassSchema, { name: e.name, standard: e.standard });
}

/** A capability as listed, standard or custom. */
export function capabilityMessage(e: NameEntry): Capability {
  return create(CapabilitySchema, { name: e.name, standard: e.standard });
}

/** A provider with the names of its region, parent and root. */
export function providerMessage(p: Provider): ProviderMessage {
  return create(ProviderSchema, {
    uuid: p.uuid,
    name: p.name,
    regionUuid: p.regionUuid,
    regionName: p.regionName,
    parentUuid: p.parentUuid ?? "",
    parentName: p.parentName ?? "",
    rootUuid: p.rootUuid,
    rootName: p.rootName,
    generation: BigInt(p.generation),
    capabilities: p.capabilities,
    groups: p.groups,
    createTime: timestamp(p.createTime),
    updateTime: timestamp(p.updateTime),
  });
}

/** An inventory with its output-only capacity and usage. */
export function inventoryMessage(i: InventoryView): Inventory {
  return create(InventorySchema, {
    resourceClass: i.resourceClass,
    total: BigInt(i.total),
    reserved: BigInt(i.reserved),
    minUnit: BigInt(i.minUnit),
    maxUnit: BigInt(i.maxUnit),
    stepSize: BigInt(i.stepSize),
    allocationRatio: i.allocationRatio,
    capacity: BigInt(i.capacity),
    used: BigInt(i.used),
  });
}

/** Capacity and usage of one class (over-capacity reports, summaries). */
export function resourceSummaryMessage(s: ResourceSummaryRecord): ResourceSummary {
  return create(ResourceSummarySchema, {
    resourceClass: s.resourceClass,
    capacity: BigInt(s.capacity),
    used: BigInt(s.used),
  });
}

/** A group with its level as the generated enum. */
export function providerGroupMessage(g: ProviderGroup): ProviderGroupMessage {
  return create(ProviderGroupSchema, {
    uuid: g.uuid,
    name: g.name,
    level: g.level ? LEVELS[g.level] : GroupLevel.UNSPECIFIED,
    createTime: timestamp(g.createTime),
  });
}

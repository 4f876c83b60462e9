/**
 * Domain objects → MetadataService messages (the encode step of service.ts). Times become
 * google.protobuf.Timestamp, kind and visibility names the generated enums, JSON values
 * google.protobuf.Value.
 */
import { create, fromJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { timestampFromDate, ValueSchema } from "@bufbuild/protobuf/wkt";
import {
  type LookupResult as LookupResultMessage,
  LookupResultSchema,
  ObjectKind,
  type PropertyDefinition as PropertyDefinitionMessage,
  PropertyDefinitionSchema,
  PropertyType,
  type Region as RegionMessage,
  RegionSchema,
  type RegisteredObject as RegisteredObjectMessage,
  RegisteredObjectSchema,
  Visibility,
} from "../gen/mulligan/meta/v1/meta_pb.js";
import type {
  ObjectKindName,
  PropertyDefinition,
  PropertyTypeName,
  Region,
  RegisteredObject,
} from "./model.js";
import type { LookupResult } from "./search.js";

const KINDS: Record<ObjectKindName, ObjectKind> = {
  region: ObjectKind.REGION,
  provider: ObjectKind.PROVIDER,
  provider_group: ObjectKind.PROVIDER_GROUP,
  machine: ObjectKind.MACHINE,
  node: ObjectKind.NODE,
  image: ObjectKind.IMAGE,
};

const TYPES: Record<PropertyTypeName, PropertyType> = {
  string: PropertyType.STRING,
  integer: PropertyType.INTEGER,
  number: PropertyType.NUMBER,
  boolean: PropertyType.BOOLEAN,
};

const timestamp = (iso: string) => timestampFromDate(new Date(iso));

/** A region as the Region message. */
export function regionMessage(r: Region): RegionMessage {
  return create(RegionSchema, {
    uuid: r.uuid,
    name: r.name,
    slug: r.slug,
    parentUuid: r.parentUuid ?? "",
    parentName: r.parentName ?? "",
    description: r.description,
    visibility: r.visibility === "external" ? Visibility.EXTERNAL : Visibility.INTERNAL,
    failureDomain: { power: r.failurePower, network: r.failureNetwork },
    createTime: timestamp(r.createTime),
    updateTime: timestamp(r.updateTime),
  });
}

/** An object as the RegisteredObject message (properties as a Struct). */
export function objectMessage(o: RegisteredObject): RegisteredObjectMessage {
  return create(RegisteredObjectSchema, {
    uuid: o.uuid,
    kind: KINDS[o.kind],
    name: o.name,
    slug: o.slug,
    projectUuid: o.projectUuid ?? "",
    projectName: o.projectName ?? "",
    regionUuid: o.regionUuid ?? "",
    regionName: o.regionName ?? "",
    tags: o.tags,
    properties: o.properties as JsonObject,
    createTime: timestamp(o.createTime),
    updateTime: timestamp(o.updateTime),
  });
}

/** A definition, its allowed values as google.protobuf.Value. */
export function definitionMessage(d: PropertyDefinition): PropertyDefinitionMessage {
  return create(PropertyDefinitionSchema, {
    kind: KINDS[d.kind],
    key: d.key,
    schema: {
      type: TYPES[d.schema.type],
      allowedValues: d.schema.allowedValues.map((v) => fromJson(ValueSchema, v as JsonValue)),
      minimum: d.schema.minimum,
      maximum: d.schema.maximum,
      pattern: d.schema.pattern,
      format: d.schema.format,
    },
    description: d.description,
    createTime: timestamp(d.createTime),
    updateTime: timestamp(d.updateTime),
  });
}

/** One LookupObjects result. */
export function lookupResultMessage(r: LookupResult): LookupResultMessage {
  return create(LookupResultSchema, {
    ref: r.ref,
    object: r.object ? objectMessage(r.object) : undefined,
    reason: r.reason,
  });
}

/**
 * Every MetadataService request decoded and validated in one place: proto request → plain
 * domain input. All bad fields of a request are reported together as one INVALID_ARGUMENT.
 */
import { toJson } from "@bufbuild/protobuf";
import { type Value, ValueSchema } from "@bufbuild/protobuf/wkt";
import {
  type CreateRegionRequest,
  type DefinePropertyRequest,
  type DeletePropertyDefinitionRequest,
  type DeleteRegionRequest,
  type FindObjectsRequest,
  type GetRegionRequest,
  type ListPropertyDefinitionsRequest,
  type ListRegionsRequest,
  type LookupObjectsRequest,
  ObjectKind,
  type ObjectSelector,
  PropertyType,
  type RegisterObjectRequest,
  type UpdateObjectRequest,
  type UpdateRegionRequest,
  Visibility,
} from "../gen/mulligan/meta/v1/meta_pb.js";
import { isUuid, TAG_PATTERN, Violations } from "../platform/validate.js";
import type { Json, ObjectKindName, PropertyTypeName, RegionVisibility } from "./model.js";
import type { RegisterObjectInput, UpdateObjectInput } from "./objects.js";
import type {
  DefinePropertyInput,
  DeleteDefinitionInput,
  ListDefinitionsInput,
} from "./properties.js";
import type { CreateRegionInput, ListRegionsInput, UpdateRegionInput } from "./regions.js";
import type { FindObjectsInput, LookupObjectsInput } from "./search.js";
import type { ObjectSelectorInput } from "./selectors.js";

/** Most tags on one object. */
export const MAX_TAGS = 50;
/** Most refs in one LookupObjects call. */
export const MAX_LOOKUP_REFS = 1000;
/** Most properties in one request. */
export const MAX_PROPERTIES = 100;
/** Longest failure-domain label. */
export const MAX_LABEL = 63;

/** Wire enum → domain name of object kinds. */
export const KIND_NAMES: Record<number, ObjectKindName> = {
  [ObjectKind.REGION]: "region",
  [ObjectKind.PROVIDER]: "provider",
  [ObjectKind.PROVIDER_GROUP]: "provider_group",
  [ObjectKind.MACHINE]: "machine",
  [ObjectKind.NODE]: "node",
  [ObjectKind.IMAGE]: "image",
};

const TYPE_NAMES: Record<number, PropertyTypeName> = {
  [PropertyType.STRING]: "string",
  [PropertyType.INTEGER]: "integer",
  [PropertyType.NUMBER]: "number",
  [PropertyType.BOOLEAN]: "boolean",
};

function kind(v: Violations, field: string, value: number, required: boolean) {
  return KIND_NAMES[v.enumValue(field, value, ObjectKind, required)];
}

/** UNSPECIFIED means INTERNAL: a region is hidden unless made EXTERNAL on purpose. */
function visibility(v: Violations, field: string, value: number): RegionVisibility {
  const known = v.enumValue(field, value, Visibility, false);
  return known === Visibility.EXTERNAL ? "external" : "internal";
}

/** Tags: each valid, at most MAX_TAGS distinct ones; returned deduplicated and sorted. */
function tags(v: Violations, field: string, list: readonly string[]): string[] {
  list.forEach((tag, i) => {
    if (!TAG_PATTERN.test(tag))
      v.add(`${field}[${i}]`, "TAG_INVALID", "must be 1–128 characters of [A-Za-z0-9._:/=+@-]");
  });
  const unique = [...new Set(list)].sort();
  if (unique.length > MAX_TAGS) v.add(field, "TOO_MANY_TAGS", `must hold at most ${MAX_TAGS} tags`);
  return unique;
}

/** A Struct of properties: keys are names; values are checked against definitions later. */
function properties(v: Violations, field: string, value: Record<string, unknown> | undefined) {
  const props = (value ?? {}) as Record<string, Json>;
  const keys = Object.keys(props);
  if (keys.length > MAX_PROPERTIES)
    v.add(field, "TOO_MANY_PROPERTIES", `must hold at most ${MAX_PROPERTIES} properties`);
  for (const key of keys) v.name(`${field}.${key}`, key);
  return props;
}

function selector(v: Violations, sel: ObjectSelector | undefined): ObjectSelectorInput {
  const object = v.ref("selector.object", sel?.object ?? "", true);
  const k = kind(v, "selector.kind", sel?.kind ?? 0, false);
  if (object !== "" && !isUuid(object) && k === undefined && (sel?.kind ?? 0) === 0)
    v.add("selector.kind", "FIELD_REQUIRED", "is required when the object is named, not a UUID");
  return { object, kind: k, project: v.optionalRef("selector.project", sel?.project ?? "") };
}

/** CreateRegion: a name, an optional parent, attributes. */
export function decodeCreateRegion(req: CreateRegionRequest): CreateRegionInput {
  return Violations.decode((v) => ({
    requestId: v.requestId("request_id", req.requestId),
    name: v.name("name", req.name),
    parent: v.optionalRef("parent", req.parent),
    description: v.text("description", req.description),
    visibility: visibility(v, "visibility", req.visibility),
    failurePower: v.text("failure_domain.power", req.failureDomain?.power ?? "", MAX_LABEL),
    failureNetwork: v.text("failure_domain.network", req.failureDomain?.network ?? "", MAX_LABEL),
  }));
}

/** GetRegion: the region's name, slug or UUID. */
export function decodeGetRegion(req: GetRegionRequest): string {
  return Violations.decode((v) => v.ref("region", req.region, true));
}

/** ListRegions: a page, optionally of one region's children. */
export function decodeListRegions(req: ListRegionsRequest): ListRegionsInput {
  return Violations.decode((v) => ({
    ...v.page(req),
    parent: v.optionalRef("parent", req.parent),
  }));
}

/** UpdateRegion: only masked fields come through (parent: null = top-level). */
export function decodeUpdateRegion(req: UpdateRegionRequest): UpdateRegionInput {
  return Violations.decode((v) => {
    const mask = v.updateMask("update_mask", req.updateMask?.paths, [
      "description",
      "visibility",
      "failure_domain",
      "failure_domain.power",
      "failure_domain.network",
      "parent",
    ]);
    const power = mask.has("failure_domain") || mask.has("failure_domain.power");
    const network = mask.has("failure_domain") || mask.has("failure_domain.network");
    const fd = req.failureDomain;
    return {
      requestId: v.requestId("request_id", req.requestId),
      region: v.ref("region", req.region, true),
      description: mask.has("description") ? v.text("description", req.description) : undefined,
      visibility: mask.has("visibility") ? visibility(v, "visibility", req.visibility) : undefined,
      failurePower: power ? v.text("failure_domain.power", fd?.power ?? "", MAX_LABEL) : undefined,
      failureNetwork: network
        ? v.text("failure_domain.network", fd?.network ?? "", MAX_LABEL)
        : undefined,
      parent: mask.has("parent") ? (v.optionalRef("parent", req.parent) ?? null) : undefined,
    };
  });
}

/** DeleteRegion: the region and an optional request_id. */
export function decodeDeleteRegion(req: DeleteRegionRequest) {
  return Violations.decode((v) => ({
    requestId: v.requestId("request_id", req.requestId),
    region: v.ref("region", req.region, true),
  }));
}

/** RegisterObject: any kind but REGION, in a region, with tags and properties. */
export function decodeRegisterObject(req: RegisterObjectRequest): RegisterObjectInput {
  return Violations.decode((v) => {
    const k = kind(v, "kind", req.kind, true);
    if (k === "region") v.add("kind", "KIND_INVALID", "regions are created with CreateRegion");
    return {
      requestId: v.requestId("request_id", req.requestId),
      kind: k ?? "provider",
      name: v.name("name", req.name),
      project: v.optionalRef("project", req.project),
      region: v.ref("region", req.region, true),
      tags: tags(v, "tags", req.tags),
      properties: properties(v, "properties", req.properties),
    };
  });
}

/** GetObject takes only a selector. */
export function decodeGetObject(req: { selector?: ObjectSelector }): ObjectSelectorInput {
  return Violations.decode((v) => selector(v, req.selector));
}

/** UpdateObject: only masked fields (name, region) come through. */
export function decodeUpdateObject(req: UpdateObjectRequest): UpdateObjectInput {
  return Violations.decode((v) => {
    const mask = v.updateMask("update_mask", req.updateMask?.paths, ["name", "region"]);
    return {
      requestId: v.requestId("request_id", req.requestId),
      selector: selector(v, req.selector),
      name: mask.has("name") ? v.name("name", req.name) : undefined,
      region: mask.has("region") ? v.ref("region", req.region, true) : undefined,
    };
  });
}

/** DeleteObject, SetTags and SetProperties share the request_id and selector. */
export function decodeObjectMutation(req: { requestId: string; selector?: ObjectSelector }) {
  return Violations.decode((v) => ({
    requestId: v.requestId("request_id", req.requestId),
    selector: selector(v, req.selector),
  }));
}

/** SetTags: the object and its whole new tag set. */
export function decodeSetTags(req: {
  requestId: string;
  selector?: ObjectSelector;
  tags: string[];
}) {
  return Violations.decode((v) => ({
    requestId: v.requestId("request_id", req.requestId),
    selector: selector(v, req.selector),
    tags: tags(v, "tags", req.tags),
  }));
}

/** SetProperties: the object and the keys to set or remove. */
export function decodeSetProperties(req: {
  requestId: string;
  selector?: ObjectSelector;
  properties?: Record<string, unknown>;
}) {
  return Violations.decode((v) => ({
    requestId: v.requestId("request_id", req.requestId),
    selector: selector(v, req.selector),
    properties: properties(v, "properties", req.properties),
  }));
}

/** LookupObjects: at most MAX_LOOKUP_REFS well-formed refs. */
export function decodeLookupObjects(req: LookupObjectsRequest): LookupObjectsInput {
  return Violations.decode((v) => {
    if (req.refs.length > MAX_LOOKUP_REFS)
      v.add("refs", "TOO_MANY_REFS", `must hold at most ${MAX_LOOKUP_REFS} refs`);
    else
      req.refs.forEach((ref, i) => {
        v.ref(`refs[${i}]`, ref, true);
      });
    return {
      refs: req.refs,
      kind: kind(v, "kind", req.kind, false),
      project: v.optionalRef("project", req.project),
    };
  });
}

/** FindObjects: a page and its filters. */
export function decodeFindObjects(req: FindObjectsRequest): FindObjectsInput {
  return Violations.decode((v) => ({
    ...v.page(req),
    kind: kind(v, "kind", req.kind, false),
    project: v.optionalRef("project", req.project),
    region: v.optionalRef("region", req.region),
    tags: tags(v, "tags", req.tags),
    properties: properties(v, "properties", req.properties),
    namePrefix: v.text("name_prefix", req.namePrefix, 63) || undefined,
  }));
}

/** A google.protobuf.Value as JSON, or a violation if it holds nothing. */
function jsonValue(v: Violations, field: string, value: Value): Json {
  try {
    return toJson(ValueSchema, value) as Json;
  } catch {
    v.add(field, "FIELD_INVALID", "must hold a value");
    return null;
  }
}

/** DefineProperty: the schema's soundness is checked by the domain. */
export function decodeDefineProperty(req: DefinePropertyRequest): DefinePropertyInput {
  return Violations.decode((v) => {
    const s = req.schema;
    if (!s) v.add("schema", "FIELD_REQUIRED", "is required");
    const type =
      TYPE_NAMES[v.enumValue("schema.type", s?.type ?? 0, PropertyType, s !== undefined)];
    return {
      requestId: v.requestId("request_id", req.requestId),
      kind: kind(v, "kind", req.kind, true) ?? "provider",
      key: v.name("key", req.key),
      schema: {
        type: type ?? "string",
        allowedValues: (s?.allowedValues ?? []).map((value, i) =>
          jsonValue(v, `schema.allowed_values[${i}]`, value),
        ),
        ...(s?.minimum !== undefined && { minimum: s.minimum }),
        ...(s?.maximum !== undefined && { maximum: s.maximum }),
        pattern: s?.pattern ?? "",
        format: s?.format ?? "",
      },
      description: v.text("description", req.description),
    };
  });
}

/** ListPropertyDefinitions: a page, optionally of one kind. */
export function decodeListPropertyDefinitions(
  req: ListPropertyDefinitionsRequest,
): ListDefinitionsInput {
  return Violations.decode((v) => ({ ...v.page(req), kind: kind(v, "kind", req.kind, false) }));
}

/** DeletePropertyDefinition: the kind and key. */
export function decodeDeletePropertyDefinition(
  req: DeletePropertyDefinitionRequest,
): DeleteDefinitionInput {
  return Violations.decode((v) => ({
    requestId: v.requestId("request_id", req.requestId),
    kind: kind(v, "kind", req.kind, true) ?? "provider",
    key: v.name("key", req.key),
  }));
}

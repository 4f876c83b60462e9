/**
 * The meta part's domain objects, as the domain hands them to service.ts (which encodes them)
 * and to the request log (so they are plain JSON: times are ISO strings).
 */

/** Kinds of registry objects; stored by these names. */
export const OBJECT_KINDS = [
  "region",
  "provider",
  "provider_group",
  "machine",
  "node",
  "image",
] as const;
/** A kind as the domain and the database name it. */
export type ObjectKindName = (typeof OBJECT_KINDS)[number];

/** Who sees a region: fleet-seeing callers only, or every caller. */
export type RegionVisibility = "internal" | "external";

/** A JSON value as properties hold it (no protobuf types in the domain). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A region: a registry object of kind "region" plus its hierarchy and failure domains. */
export interface Region {
  uuid: string;
  name: string;
  slug: string;
  /** Null for a top-level region (or one whose parent the caller may not see). */
  parentUuid: string | null;
  parentName: string | null;
  description: string;
  visibility: RegionVisibility;
  failurePower: string;
  failureNetwork: string;
  createTime: string;
  updateTime: string;
}

/** An entry of the registry, with the names of what it refers to. */
export interface RegisteredObject {
  uuid: string;
  kind: ObjectKindName;
  name: string;
  slug: string;
  /** Null for fleet objects. */
  projectUuid: string | null;
  /** Filled in after the transaction from the project directory. */
  projectName: string | null;
  regionUuid: string | null;
  regionName: string | null;
  /** Sorted. */
  tags: string[];
  properties: Record<string, Json>;
  createTime: string;
  updateTime: string;
}

/** The value types a property may have (JSON scalars). */
export type PropertyTypeName = "string" | "integer" | "number" | "boolean";

/** The JSON-schema subset a property definition holds. */
export interface PropertySchema {
  type: PropertyTypeName;
  /** If not empty, the value must equal one of these. */
  allowedValues: Json[];
  minimum?: number;
  maximum?: number;
  /** A whole-value regular expression for strings; "" for none. */
  pattern: string;
  /** A named string format; "" for none. */
  format: string;
}

/** A property objects of one kind may carry, and the schema its values must satisfy. */
export interface PropertyDefinition {
  kind: ObjectKindName;
  key: string;
  schema: PropertySchema;
  description: string;
  createTime: string;
  updateTime: string;
}

/** A page of a list and the token of the next one ("" on the last page). */
export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

/**
 * The meta part's tables as Kysely sees them. Only repo.ts queries them; times are ISO-8601
 * text and JSON is stored as text, so one schema works on SQLite and PostgreSQL.
 */
import type { RequestLogTable } from "../store/request-log.js";

/**
 * One registry entry. project_uuid is '' (not NULL) for fleet objects so the unique keys
 * (kind, project_uuid, name) and (kind, project_uuid, slug) also hold for them. A region is an
 * entry of kind "region" whose region_uuid is its parent region.
 */
export interface MetaObjectsTable {
  uuid: string;
  /** Domain kind name: "region", "provider", "machine", … */
  kind: string;
  name: string;
  slug: string;
  project_uuid: string;
  region_uuid: string | null;
  /** JSON object of the object's properties. */
  properties: string;
  created_at: string;
  updated_at: string;
}

/** The region attributes of a registry entry of kind "region" (same uuid). */
export interface MetaRegionsTable {
  uuid: string;
  parent_uuid: string | null;
  description: string;
  /** "internal" | "external". */
  visibility: string;
  failure_power: string;
  failure_network: string;
}

/** One tag of one object. */
export interface MetaTagsTable {
  object_uuid: string;
  tag: string;
}

/** A property that objects of one kind may carry, with its JSON-schema subset (JSON text). */
export interface MetaPropertyDefinitionsTable {
  kind: string;
  key: string;
  schema: string;
  description: string;
  created_at: string;
  updated_at: string;
}

/**
 * One property value per row (canonical JSON text), mirroring meta_objects.properties so that
 * FindObjects filters by equality and definitions find their users with portable SQL.
 */
export interface MetaObjectPropertiesTable {
  object_uuid: string;
  kind: string;
  key: string;
  value: string;
}

/** Every meta table, joined into the store's Database type by src/store/database.ts. */
export interface MetaTables {
  meta_objects: MetaObjectsTable;
  meta_regions: MetaRegionsTable;
  meta_tags: MetaTagsTable;
  meta_property_definitions: MetaPropertyDefinitionsTable;
  meta_object_properties: MetaObjectPropertiesTable;
  meta_requests: RequestLogTable;
}

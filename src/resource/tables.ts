/**
 * The resource part's tables (Kysely declarations). Only src/resource/repo/* touches them.
 * Standard resource classes and capabilities are not stored: they come from data/*.json.
 */
import type { Generated } from "kysely";
import type { RequestLogTable } from "../store/request-log.js";

export interface ResourceTables {
  /** CUSTOM_* resource classes. */
  resource_classes: { name: string; created_at: string };
  /** CUSTOM_* capabilities. */
  resource_capabilities: { name: string; created_at: string };
  resource_providers: {
    uuid: string;
    name: string;
    region_uuid: string;
    /** '' for a root provider. */
    parent_uuid: string;
    root_uuid: string;
    generation: number;
    created_at: string;
    updated_at: string;
  };
  resource_inventories: {
    provider_uuid: string;
    resource_class: string;
    total: number;
    reserved: number;
    min_unit: number;
    max_unit: number;
    step_size: number;
    allocation_ratio: number;
  };
  resource_provider_capabilities: { provider_uuid: string; capability: string };
  resource_groups: {
    uuid: string;
    name: string;
    /** '' for a plain group, else rack | row | site. */
    level: string;
    created_at: string;
  };
  resource_provider_groups: { provider_uuid: string; group_uuid: string };
  resource_consumers: {
    uuid: string;
    project_uuid: string;
    user_uuid: string;
    consumer_type: string;
    generation: number;
    /** When the allocations start holding (the claim time when no window was given). */
    window_start: string;
    /** '' for open-ended. */
    window_end: string;
    created_at: string;
    updated_at: string;
  };
  resource_allocations: {
    consumer_uuid: string;
    provider_uuid: string;
    resource_class: string;
    amount: number;
    /** Copied from the consumer so capacity checks over time need no join. */
    window_start: string;
    window_end: string;
  };
  resource_quotas: { project_uuid: string; resource_class: string; quota_limit: number };
  /** The change log: one row per change of a provider, its inventories or its usage. */
  /** The change log; seq is assigned by the database (see repo/changes.ts). */
  resource_changes: { seq: Generated<number>; provider_uuid: string; change: string; at: string };
  resource_requests: RequestLogTable;
}

/**
 * Who may call which ResourceService RPC. Provider management is for fleet writers and
 * executors (which register their own hosts); claims are for project members within quota;
 * the domain narrows further (tenancy of consumers, fleet-only provider reads).
 */
import { ADMIN, FLEET_WRITERS, type PolicyTable, READERS, WRITERS } from "../platform/policy.js";
import type { RoleName } from "../platform/principal.js";

const PROVIDER_WRITERS: readonly RoleName[] = ["admin", "operator", "executor"];
const FLEET_READERS: readonly RoleName[] = ["admin", "operator", "reader", "executor"];

export const resourcePolicy: PolicyTable = {
  ListResourceClasses: "authenticated",
  CreateResourceClass: PROVIDER_WRITERS,
  DeleteResourceClass: FLEET_WRITERS,
  ListCapabilities: "authenticated",
  CreateCapability: PROVIDER_WRITERS,
  DeleteCapability: FLEET_WRITERS,
  CreateProvider: PROVIDER_WRITERS,
  GetProvider: FLEET_READERS,
  ListProviders: FLEET_READERS,
  UpdateProvider: PROVIDER_WRITERS,
  DeleteProvider: FLEET_WRITERS,
  SetInventories: PROVIDER_WRITERS,
  GetInventories: FLEET_READERS,
  SetProviderCapabilities: PROVIDER_WRITERS,
  CreateProviderGroup: FLEET_WRITERS,
  ListProviderGroups: FLEET_READERS,
  SetProviderGroups: PROVIDER_WRITERS,
  FindCandidates: WRITERS,
  Claim: WRITERS,
  ClaimBest: WRITERS,
  Release: WRITERS,
  GetAllocations: READERS,
  ListProviderAllocations: FLEET_READERS,
  GetUsages: READERS,
  GetProviderUsages: FLEET_READERS,
  Reshape: PROVIDER_WRITERS,
  SetQuota: FLEET_WRITERS,
  GetQuotas: READERS,
  WatchProviders: FLEET_READERS,
  Configure: ADMIN,
};

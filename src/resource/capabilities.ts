/**
 * Capabilities (Placement's traits): the standard names plus CUSTOM_* ones, and the set each
 * provider has. A capability is deleted only while no provider has it.
 */
import type { Kysely } from "kysely";
import type { Caller } from "../platform/caller.js";
import type { Principal } from "../platform/principal.js";
import { Violations } from "../platform/validate.js";
import type { Database } from "../store/database.js";
import type { Store } from "../store/store.js";
import {
  changeProvider,
  type Provider,
  type RegistryDeps,
  reread,
  withRegionName,
  writeProvider,
} from "./provider-records.js";
import * as repo from "./repo/registry.js";
import * as vocabulary from "./repo/vocabulary.js";
import {
  createName,
  deleteName,
  type ListNamesInput,
  listNames,
  type NameEntry,
  type NameKind,
  type NameMutationInput,
  STANDARD_CAPABILITIES,
  unknownNames,
} from "./standards.js";

/** Capabilities as a kind of name. */
export const CAPABILITIES: NameKind = {
  label: "capability",
  table: "resource_capabilities",
  standard: STANDARD_CAPABILITIES,
  inUseReason: "CAPABILITY_IN_USE",
  inUse: vocabulary.capabilityInUse,
};

/** INVALID_ARGUMENT CAPABILITY_UNKNOWN on `field[i]` for each name that does not exist. */
export async function assertKnownCapabilities(
  db: Kysely<Database>,
  field: string,
  names: readonly string[],
): Promise<void> {
  const unknown = await unknownNames(db, CAPABILITIES, names);
  const v = new Violations();
  names.forEach((name, i) => {
    if (unknown.has(name))
      v.add(`${field}[${i}]`, "CAPABILITY_UNKNOWN", `unknown capability ${name}`);
  });
  v.throwIfAny();
}

/** The whole new capability set of a provider (no duplicates: the decoder refuses them). */
export interface SetProviderCapabilitiesInput {
  requestId?: string;
  provider: string;
  generation: number;
  capabilities: string[];
}

/** ListCapabilities: standard and custom capabilities by name, optionally by prefix. */
export function listCapabilities(store: Store, input: ListNamesInput) {
  return listNames(store, CAPABILITIES, input);
}

/** CreateCapability: a new CUSTOM_* capability. */
export function createCapability(
  store: Store,
  caller: Principal,
  input: NameMutationInput,
): Promise<NameEntry> {
  return createName(store, caller, CAPABILITIES, "CreateCapability", input);
}

/** DeleteCapability: a custom capability no provider has. */
export function deleteCapability(store: Store, caller: Principal, input: NameMutationInput) {
  return deleteName(store, caller, CAPABILITIES, "DeleteCapability", input);
}

/** SetProviderCapabilities: replaces the set (generation-checked); unknown names refused. */
export async function setProviderCapabilities(
  deps: RegistryDeps,
  caller: Caller,
  input: SetProviderCapabilitiesInput,
): Promise<Provider> {
  const result = await writeProvider(
    deps,
    caller,
    "SetProviderCapabilities",
    input,
    async (tx, row) => {
      await assertKnownCapabilities(tx, "capabilities", input.capabilities);
      await changeProvider(deps.store, tx, row, input.generation, "updated");
      await repo.replaceCapabilities(tx, row.uuid, input.capabilities);
      return reread(tx, row.uuid);
    },
  );
  return withRegionName(deps, caller, result);
}

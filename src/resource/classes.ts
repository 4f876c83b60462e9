/**
 * Resource classes: Placement's standard ones plus CUSTOM_* ones operators create. A class is
 * deleted only while no inventory and no allocation names it.
 */
import type { Principal } from "../platform/principal.js";
import type { Store } from "../store/store.js";
import * as vocabulary from "./repo/vocabulary.js";
import {
  createName,
  deleteName,
  type ListNamesInput,
  listNames,
  type NameEntry,
  type NameKind,
  type NameMutationInput,
  STANDARD_CLASSES,
} from "./standards.js";

/** Resource classes as a kind of name. */
export const RESOURCE_CLASSES: NameKind = {
  label: "resource class",
  table: "resource_classes",
  standard: STANDARD_CLASSES,
  inUseReason: "RESOURCE_CLASS_IN_USE",
  inUse: vocabulary.classInUse,
};

/** ListResourceClasses: standard and custom classes by name. */
export function listClasses(store: Store, input: ListNamesInput) {
  return listNames(store, RESOURCE_CLASSES, input);
}

/** CreateResourceClass: a new CUSTOM_* class. */
export function createClass(
  store: Store,
  caller: Principal,
  input: NameMutationInput,
): Promise<NameEntry> {
  return createName(store, caller, RESOURCE_CLASSES, "CreateResourceClass", input);
}

/** DeleteResourceClass: a custom class no inventory or allocation uses. */
export function deleteClass(store: Store, caller: Principal, input: NameMutationInput) {
  return deleteName(store, caller, RESOURCE_CLASSES, "DeleteResourceClass", input);
}

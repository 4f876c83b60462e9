/**
 * The registry's objects: registered by their project's members (or, as fleet objects, by
 * fleet managers), named uniquely within (kind, project) by name and by slug, placed in a
 * region, tagged, and given properties checked against their kind's definitions. Regions are
 * objects too but change only through the region RPCs.
 */
import type { Caller } from "../platform/caller.js";
import { MulliganError } from "../platform/errors.js";
import { newUuid, nowIso } from "../platform/ids.js";
import { slugify } from "../platform/validate.js";
import { idempotent } from "../store/request-log.js";
import type { Tx } from "../store/store.js";
import {
  assertWritable,
  FLEET,
  type MetaDeps,
  ownerFor,
  requestKey,
  withProjectNames,
} from "./access.js";
import type { Json, ObjectKindName, RegisteredObject } from "./model.js";
import { mergeProperties, propertyIndex } from "./properties.js";
import { visibleRegion } from "./regions.js";
import * as repo from "./repo.js";
import { type ObjectSelectorInput, resolveSelector, selectObject, toObjects } from "./selectors.js";

/** A decoded RegisterObject request. */
export interface RegisterObjectInput {
  requestId?: string;
  kind: ObjectKindName;
  name: string;
  /** Owning project name or UUID; undefined for the default owner (see ownerFor). */
  project?: string;
  region: string;
  /** Deduplicated and sorted. */
  tags: string[];
  properties: Record<string, Json>;
}

/** Only the fields present change. */
export interface UpdateObjectInput {
  requestId?: string;
  selector: ObjectSelectorInput;
  name?: string;
  region?: string;
}

/** What every change of one object names: the object, and an optional request_id. */
export interface ObjectMutationInput {
  requestId?: string;
  selector: ObjectSelectorInput;
}

/** The whole new tag set (deduplicated and sorted). */
export interface SetTagsInput extends ObjectMutationInput {
  tags: string[];
}

/** Properties to set; a null value removes the key. */
export interface SetPropertiesInput extends ObjectMutationInput {
  properties: Record<string, Json>;
}

const objectExists = (name: string) => MulliganError.alreadyExists("object", name);

/** Reads the object back (with tags and region name) after a change. */
async function reread(tx: Tx, uuid: string): Promise<RegisteredObject> {
  const rows = await repo.objectRowsByUuid(tx, [uuid], { all: true });
  const [object] = await toObjects(tx, rows);
  if (!object) throw new Error(`object ${uuid} vanished inside its transaction`);
  return object;
}

/** Registers an object in a visible region, owned as ownerFor decides. */
export async function registerObject(
  deps: MetaDeps,
  caller: Caller,
  input: RegisterObjectInput,
): Promise<RegisteredObject> {
  const { store } = deps;
  const owner = await ownerFor(deps, caller, input.project);
  const object = await store.transaction((tx) =>
    idempotent(store, tx, requestKey("RegisterObject", caller.principal, input), async () => {
      const region = await visibleRegion(tx, caller.principal, input.region, "region");
      const key = {
        kind: input.kind,
        projectUuid: owner?.uuid ?? FLEET,
        name: input.name,
        slug: slugify(input.name),
      };
      if (await repo.nameTaken(tx, key)) throw objectExists(input.name);
      const properties = await mergeProperties(tx, input.kind, {}, input.properties);
      const now = nowIso();
      const uuid = newUuid();
      try {
        await repo.insertObject(tx, {
          uuid,
          kind: input.kind,
          name: input.name,
          slug: key.slug,
          project_uuid: key.projectUuid,
          region_uuid: region.uuid,
          properties: JSON.stringify(properties),
          created_at: now,
          updated_at: now,
        });
      } catch (err) {
        if (store.isUniqueViolation(err)) throw objectExists(input.name);
        throw err;
      }
      await repo.replaceTags(tx, uuid, input.tags);
      await repo.replaceProperties(tx, { uuid, kind: input.kind }, propertyIndex(properties));
      return reread(tx, uuid);
    }),
  );
  const [named] = await withProjectNames(deps, caller, [object]);
  return named ?? object;
}

/** One visible object, by selector. */
export async function getObject(
  deps: MetaDeps,
  caller: Caller,
  selector: ObjectSelectorInput,
): Promise<RegisteredObject> {
  const sel = await resolveSelector(deps, caller, selector);
  const objects = await toObjects(deps.store.db, [await selectObject(deps.store.db, sel)]);
  return (await withProjectNames(deps, caller, objects))[0] as RegisteredObject;
}

/**
 * Runs a change to one writable, non-region object in a transaction with the request log,
 * and returns the object as it is afterwards, with its project's name.
 */
async function mutate(
  deps: MetaDeps,
  caller: Caller,
  method: string,
  input: ObjectMutationInput,
  change: (tx: Tx, row: repo.ObjectRow) => Promise<"deleted" | undefined>,
): Promise<RegisteredObject | null> {
  const { store } = deps;
  const sel = await resolveSelector(deps, caller, input.selector);
  const object = await store.transaction((tx) =>
    idempotent(store, tx, requestKey(method, caller.principal, input), async () => {
      const row = await selectObject(tx, sel);
      assertWritable(caller.principal, row);
      return (await change(tx, row)) === "deleted" ? null : reread(tx, row.uuid);
    }),
  );
  return object && ((await withProjectNames(deps, caller, [object]))[0] ?? object);
}

/** Regions are renamed, moved and deleted only through the region RPCs. */
function refuseRegion(row: repo.ObjectRow, method: string): void {
  if (row.kind === "region")
    throw MulliganError.invalid(
      "selector.kind",
      "KIND_INVALID",
      `regions cannot be changed with ${method}; use the region RPCs`,
    );
}

/** Renames (new slug, same uniqueness rules) or moves an object. */
export async function updateObject(
  deps: MetaDeps,
  caller: Caller,
  input: UpdateObjectInput,
): Promise<RegisteredObject> {
  const object = await mutate(deps, caller, "UpdateObject", input, async (tx, row) => {
    refuseRegion(row, "UpdateObject");
    const patch: Parameters<typeof repo.updateObjectRow>[2] = { updated_at: nowIso() };
    if (input.name !== undefined && input.name !== row.name) {
      const key = {
        kind: row.kind,
        projectUuid: row.project_uuid,
        name: input.name,
        slug: slugify(input.name),
      };
      if (await repo.nameTaken(tx, key, row.uuid)) throw objectExists(input.name);
      Object.assign(patch, { name: key.name, slug: key.slug });
    }
    if (input.region !== undefined)
      patch.region_uuid = (await visibleRegion(tx, caller.principal, input.region, "region")).uuid;
    try {
      await repo.updateObjectRow(tx, row.uuid, patch);
    } catch (err) {
      if (deps.store.isUniqueViolation(err)) throw objectExists(input.name ?? row.name);
      throw err;
    }
    return undefined;
  });
  return object as RegisteredObject;
}

/** Deletes an object with its tags and properties. */
export async function deleteObject(
  deps: MetaDeps,
  caller: Caller,
  input: ObjectMutationInput,
): Promise<void> {
  await mutate(deps, caller, "DeleteObject", input, async (tx, row) => {
    refuseRegion(row, "DeleteObject");
    await repo.deleteObjectRow(tx, row.uuid);
    return "deleted";
  });
}

/** Replaces an object's tags. */
export async function setTags(
  deps: MetaDeps,
  caller: Caller,
  input: SetTagsInput,
): Promise<RegisteredObject> {
  const object = await mutate(deps, caller, "SetTags", input, async (tx, row) => {
    await repo.replaceTags(tx, row.uuid, input.tags);
    await repo.updateObjectRow(tx, row.uuid, { updated_at: nowIso() });
    return undefined;
  });
  return object as RegisteredObject;
}

/** Merges properties into an object, each checked against its definition. */
export async function setProperties(
  deps: MetaDeps,
  caller: Caller,
  input: SetPropertiesInput,
): Promise<RegisteredObject> {
  const object = await mutate(deps, caller, "SetProperties", input, async (tx, row) => {
    const current = JSON.parse(row.properties) as Record<string, Json>;
    const merged = await mergeProperties(tx, row.kind, current, input.properties);
    await repo.updateObjectRow(tx, row.uuid, {
      properties: JSON.stringify(merged),
      updated_at: nowIso(),
    });
    await repo.replaceProperties(tx, row, propertyIndex(merged));
    return undefined;
  });
  return object as RegisteredObject;
}

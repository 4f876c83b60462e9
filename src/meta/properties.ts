/**
 * Property definitions (per kind, by fleet managers) and the check of object properties
 * against them. A definition may change only if every value objects already carry still
 * validates, and may go away only when no object carries the property.
 */
import { MulliganError } from "../platform/errors.js";
import { nowIso } from "../platform/ids.js";
import { type PageKey, pageOf } from "../platform/paging.js";
import type { Principal } from "../platform/principal.js";
import { Violations } from "../platform/validate.js";
import { canonicalJson, idempotent } from "../store/request-log.js";
import type { Store, Tx } from "../store/store.js";
import { assertFleetManager, requestKey } from "./access.js";
import type { Json, ObjectKindName, Page, PropertyDefinition, PropertySchema } from "./model.js";
import { checkSchema, valueChecker } from "./property-schema.js";
import * as repo from "./repo.js";
import type { MetaPropertyDefinitionsTable } from "./tables.js";

/** A decoded DefineProperty request (the schema not yet checked). */
export interface DefinePropertyInput {
  requestId?: string;
  kind: ObjectKindName;
  key: string;
  schema: PropertySchema;
  description: string;
}

/** A page of definitions, optionally of one kind. */
export interface ListDefinitionsInput {
  pageSize: number;
  after: PageKey | undefined;
  kind?: ObjectKindName;
}

/** The definition to remove. */
export interface DeleteDefinitionInput {
  requestId?: string;
  kind: ObjectKindName;
  key: string;
}

function toDefinition(row: MetaPropertyDefinitionsTable): PropertyDefinition {
  return {
    kind: row.kind as ObjectKindName,
    key: row.key,
    schema: JSON.parse(row.schema) as PropertySchema,
    description: row.description,
    createTime: row.created_at,
    updateTime: row.updated_at,
  };
}

const propertyInUse = (kind: string, key: string, detail: string) =>
  MulliganError.failedPrecondition(
    "PROPERTY_IN_USE",
    `property "${key}" of ${kind} objects ${detail}`,
  );

/** Defines or redefines a property, keeping every stored value valid. */
export async function defineProperty(
  store: Store,
  caller: Principal,
  input: DefinePropertyInput,
): Promise<PropertyDefinition> {
  assertFleetManager(caller);
  const v = new Violations();
  for (const problem of checkSchema(input.schema))
    v.add(`schema.${problem.field}`, "PROPERTY_SCHEMA_INVALID", problem.description);
  v.throwIfAny();
  return store.transaction((tx) =>
    idempotent(store, tx, requestKey("DefineProperty", caller, input), async () => {
      const [existing] = await repo.findDefinitionRows(tx, input.kind, [input.key]);
      if (existing) {
        const check = valueChecker(input.schema);
        for (const value of await repo.storedValues(tx, input.kind, input.key)) {
          const problem = check(JSON.parse(value) as Json);
          if (problem)
            throw propertyInUse(
              input.kind,
              input.key,
              `has the stored value ${value}, which ${problem}`,
            );
        }
      }
      const now = nowIso();
      const row = {
        kind: input.kind,
        key: input.key,
        schema: JSON.stringify(input.schema),
        description: input.description,
        created_at: existing?.created_at ?? now,
        updated_at: now,
      };
      await repo.saveDefinition(tx, row, existing !== undefined);
      return toDefinition(row);
    }),
  );
}

/** Definitions by (kind, key); every reader may see them. */
export async function listDefinitions(
  store: Store,
  input: ListDefinitionsInput,
): Promise<Page<PropertyDefinition>> {
  const rows = await repo.listDefinitionRows(store.db, input.kind, {
    after: input.after,
    limit: input.pageSize + 1,
  });
  const page = pageOf(rows, input.pageSize, (r) => ({ k: r.kind, u: r.key }));
  return { items: page.items.map(toDefinition), nextPageToken: page.nextPageToken };
}

/** Removes a definition no object uses any more. */
export async function deleteDefinition(
  store: Store,
  caller: Principal,
  input: DeleteDefinitionInput,
): Promise<void> {
  assertFleetManager(caller);
  await store.transaction((tx) =>
    idempotent(store, tx, requestKey("DeletePropertyDefinition", caller, input), async () => {
      const [existing] = await repo.findDefinitionRows(tx, input.kind, [input.key]);
      if (!existing)
        throw MulliganError.notFound("property definition", `${input.kind}/${input.key}`, "key");
      if ((await repo.storedValues(tx, input.kind, input.key)).length > 0)
        throw propertyInUse(input.kind, input.key, "is still carried by objects");
      await repo.deleteDefinitionRow(tx, input.kind, input.key);
      return null;
    }),
  );
}

/**
 * Merges `changes` into `current` (null removes a key), checking every set value against its
 * kind's definition. All bad keys are reported together on `properties.<key>`.
 */
export async function mergeProperties(
  tx: Tx,
  kind: string,
  current: Record<string, Json>,
  changes: Record<string, Json>,
): Promise<Record<string, Json>> {
  const setting = Object.keys(changes).filter((k) => changes[k] !== null);
  const definitions = new Map(
    (await repo.findDefinitionRows(tx, kind, setting)).map((r) => [r.key, toDefinition(r)]),
  );
  const v = new Violations();
  const merged = { ...current };
  for (const [key, value] of Object.entries(changes)) {
    if (value === null) {
      delete merged[key];
      continue;
    }
    const definition = definitions.get(key);
    if (!definition) {
      v.add(
        `properties.${key}`,
        "PROPERTY_UNDEFINED",
        `no property "${key}" is defined for ${kind} objects`,
      );
      continue;
    }
    const problem = valueChecker(definition.schema)(value);
    if (problem) v.add(`properties.${key}`, "PROPERTY_INVALID", problem);
    else merged[key] = value;
  }
  v.throwIfAny();
  return merged;
}

/** The index rows of a property document: (key, canonical JSON value). */
export function propertyIndex(properties: Record<string, Json>): [string, string][] {
  return Object.entries(properties).map(([k, value]) => [k, canonicalJson(value)]);
}

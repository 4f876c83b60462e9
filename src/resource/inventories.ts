/**
 * Inventories: what a provider offers of each resource class. SetInventories replaces the whole
 * set under the provider's generation; a class that still has allocations cannot be removed,
 * but a total may shrink below what is allocated (reported as over capacity, as Placement
 * allows, so an operator can drain a host).
 *
 * "used" is the peak concurrent usage over [now, ∞) (peakUsage, as the engine's snapshot
 * computes it), not only the allocations holding at this instant: future reservations count.
 * That is what a new open-ended claim from now on is checked against, so capacity − used is
 * what can still be claimed, and a shrink that strands a reservation next week is reported.
 */
import type { Kysely } from "kysely";
import type { Caller } from "../platform/caller.js";
import { MulliganError } from "../platform/errors.js";
import { nowIso } from "../platform/ids.js";
import { Violations } from "../platform/validate.js";
import type { Database } from "../store/database.js";
import { RESOURCE_CLASSES } from "./classes.js";
import { usageLookup } from "./engine/snapshot.js";
import { capacityOf, type InventoryRecord, type ResourceSummaryRecord } from "./model.js";
import {
  changeProvider,
  type Provider,
  type RegistryDeps,
  reread,
  resolveProvider,
  withRegionName,
  writeProvider,
} from "./provider-records.js";
import * as repo from "./repo/registry.js";
import { allocationRecord } from "./snapshot-loader.js";
import { unknownNames } from "./standards.js";

/** A decoded SetInventories request (defaults applied, one entry per class). */
export interface SetInventoriesInput {
  requestId?: string;
  provider: string;
  generation: number;
  inventories: InventoryRecord[];
}

/** An inventory with its capacity and current usage. */
export interface InventoryView extends InventoryRecord {
  capacity: number;
  used: number;
}

/** What SetInventories answers. */
export interface SetInventoriesResult {
  provider: Provider;
  inventories: InventoryView[];
  /** Classes whose usage exceeds their new capacity. */
  overCapacity: ResourceSummaryRecord[];
}

/** What GetInventories answers. */
export interface ProviderInventories {
  generation: number;
  inventories: InventoryView[];
}

/** Inventories with capacity and usage over [now, ∞) (see the file comment). */
async function withUsage(
  db: Kysely<Database>,
  providerUuid: string,
  inventories: readonly InventoryRecord[],
): Promise<InventoryView[]> {
  const from = { start: nowIso(), end: null };
  const usage = usageLookup(
    (await repo.liveAllocations(db, providerUuid, from.start)).map(allocationRecord),
  );
  return inventories.map((inv) => ({
    ...inv,
    capacity: capacityOf(inv),
    used: usage(providerUuid, inv.resourceClass, from),
  }));
}

/** SetInventories: replaces the provider's inventories (generation-checked). */
export async function setInventories(
  deps: RegistryDeps,
  caller: Caller,
  input: SetInventoriesInput,
): Promise<SetInventoriesResult> {
  const result = await writeProvider(deps, caller, "SetInventories", input, async (tx, row) => {
    const classes = input.inventories.map((i) => i.resourceClass);
    const unknown = await unknownNames(tx, RESOURCE_CLASSES, classes);
    const v = new Violations();
    classes.forEach((name, i) => {
      if (unknown.has(name))
        v.add(
          `inventories[${i}].resource_class`,
          "RESOURCE_CLASS_UNKNOWN",
          `unknown resource class ${name}`,
        );
    });
    v.throwIfAny();
    const removed = [...(await repo.allocatedClasses(tx, row.uuid))].filter(
      (c) => !classes.includes(c),
    );
    if (removed.length > 0)
      throw MulliganError.failedPrecondition(
        "INVENTORY_IN_USE",
        `provider "${row.name}" has allocations of ${removed.sort().join(", ")}: keep their inventory`,
      );
    await changeProvider(deps.store, tx, row, input.generation, "inventory");
    await repo.replaceInventories(tx, row.uuid, input.inventories);
    const inventories = await withUsage(
      tx,
      row.uuid,
      [...input.inventories].sort((a, b) => (a.resourceClass < b.resourceClass ? -1 : 1)),
    );
    const overCapacity = inventories
      .filter((i) => i.used > i.capacity)
      .map((i) => ({ resourceClass: i.resourceClass, capacity: i.capacity, used: i.used }));
    return { provider: await reread(tx, row.uuid), inventories, overCapacity };
  });
  return { ...result, provider: await withRegionName(deps, caller, result.provider) };
}

/** GetInventories: a provider's inventories with capacity and usage, and its generation. */
export async function getInventories(
  deps: RegistryDeps,
  caller: Caller,
  ref: string,
): Promise<ProviderInventories> {
  const db = deps.store.db;
  const row = await resolveProvider(db, caller.principal, ref, "provider");
  return { generation: Number(row.generation), inventories: await inventoryViews(db, row.uuid) };
}

/** The stored inventories of an already resolved provider, with capacity and usage. */
export async function inventoryViews(
  db: Kysely<Database>,
  providerUuid: string,
): Promise<InventoryView[]> {
  const records = (await repo.inventoryRows(db, providerUuid)).map(repo.inventoryRecord);
  return withUsage(db, providerUuid, records);
}

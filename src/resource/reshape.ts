/**
 * Reshape: moves inventories and the allocations on them between providers of one tree in one
 * transaction (VCPU from a compute node to its NUMA children, say). Every provider generation
 * and consumer generation given must still be current, and the final state must hold: every
 * allocation on an inventory that exists, within its units and within capacity.
 */
import { MulliganError } from "../platform/errors.js";
import { nowIso } from "../platform/ids.js";
import type { Principal } from "../platform/principal.js";
import { idempotent } from "../store/request-log.js";
import type { Store } from "../store/store.js";
import { assertProviderWriter, requestKey } from "./access.js";
import type { AllocationInput } from "./allocations.js";
import { consumerConflict } from "./consumers.js";
import { usageLookup } from "./engine/snapshot.js";
import { capacityOf, fitsUnits, type InventoryRecord, type Window } from "./model.js";
import { resolveProvider } from "./provider-records.js";
import { appendChanges } from "./repo/changes.js";
import * as repo from "./repo/claims.js";
import { bumpGenerations, inventoryRecord, replaceInventories } from "./repo/registry.js";
import { allocationRecord } from "./snapshot-loader.js";

/** A decoded Reshape request. */
export interface ReshapeInput {
  requestId?: string;
  inventories: { provider: string; generation: number; inventories: InventoryRecord[] }[];
  allocations: { consumer: string; generation: number; allocations: AllocationInput[] }[];
}

/** Applies the new inventories and allocation sets atomically. */
export async function reshape(store: Store, p: Principal, input: ReshapeInput): Promise<void> {
  assertProviderWriter(p);
  await store.transaction((tx) =>
    idempotent(store, tx, requestKey("Reshape", p, input), async () => {
      const now = nowIso();
      const resolve = (ref: string, field: string) => resolveProvider(tx, p, ref, field);
      const targets = [];
      for (const [i, entry] of input.inventories.entries())
        targets.push({ row: await resolve(entry.provider, `inventories[${i}].provider`), entry });
      const roots = new Set(targets.map((t) => t.row.root_uuid));
      if (roots.size > 1)
        throw MulliganError.invalid("inventories", "TREE_MIXED", "must all be in one tree");

      const consumers = [];
      for (const [i, c] of input.allocations.entries()) {
        const field = `allocations[${i}]`;
        const row = await repo.getConsumer(tx, c.consumer);
        if (!row) throw MulliganError.notFound("consumer", c.consumer, `${field}.consumer`);
        const rows: repo.AllocationRow[] = [];
        for (const [j, a] of c.allocations.entries()) {
          const provider = await resolve(a.provider, `${field}.allocations[${j}].provider`);
          for (const [cls, amount] of Object.entries(a.resources))
            rows.push({
              consumer_uuid: row.uuid,
              provider_uuid: provider.uuid,
              resource_class: cls,
              amount,
              window_start: row.window_start,
              window_end: row.window_end,
            });
        }
        const old = await repo.consumerAllocations(tx, row.uuid);
        consumers.push({ row, expected: c.generation, rows, old });
      }

      const usageProviders = consumers.flatMap((c) =>
        [...c.old, ...c.rows].map((a) => a.provider_uuid),
      );
      const touched = [...new Set([...targets.map((t) => t.row.uuid), ...usageProviders])];
      await bumpGenerations(tx, touched, now);
      const locked = new Map((await repo.providersByUuid(tx, touched)).map((r) => [r.uuid, r]));
      for (const t of targets) {
        const current = (locked.get(t.row.uuid)?.generation ?? 0) - 1;
        if (current !== t.entry.generation)
          throw new MulliganError(
            "ABORTED",
            "PROVIDER_GENERATION_CONFLICT",
            `provider ${t.row.name} is at generation ${current}, not ${t.entry.generation}; read it again and retry`,
          );
      }
      for (const c of consumers) {
        if (!(await repo.updateConsumer(tx, c.row.uuid, c.expected, { updated_at: now })))
          throw consumerConflict(c.row.uuid, c.expected, c.row.generation);
      }
      for (const t of targets) await replaceInventories(tx, t.row.uuid, t.entry.inventories);
      for (const c of consumers) await repo.replaceAllocations(tx, c.row.uuid, c.rows);
      await checkFinalState(
        tx,
        touched,
        consumers.flatMap((c) => c.rows),
        now,
      );
      await appendChanges(
        store,
        tx,
        targets.map((t) => t.row.uuid),
        "inventory",
        now,
      );
      await appendChanges(store, tx, usageProviders, "usage", now);
      return null;
    }),
  );
}

/** Every allocation on the touched providers fits its inventory; moved ones their units. */
async function checkFinalState(
  tx: Parameters<typeof repo.inventoriesOf>[0],
  providers: readonly string[],
  moved: readonly repo.AllocationRow[],
  now: string,
): Promise<void> {
  const from: Window = { start: now, end: null };
  const inventories = new Map(
    (await repo.inventoriesOf(tx, providers)).map((i) => [
      `${i.provider_uuid}/${i.resource_class}`,
      inventoryRecord(i),
    ]),
  );
  const allocations = (await repo.allocationsOverlapping(tx, providers, from)).map(
    allocationRecord,
  );
  const usage = usageLookup(allocations);
  for (const a of moved) {
    const inv = inventories.get(`${a.provider_uuid}/${a.resource_class}`);
    if (inv && !fitsUnits(inv, a.amount))
      throw MulliganError.invalid(
        "allocations",
        "UNIT_CONSTRAINT",
        `${a.amount} ${a.resource_class} on ${a.provider_uuid} breaks min/max/step of its inventory`,
      );
  }
  const keys = new Set(allocations.map((a) => `${a.providerUuid}/${a.resourceClass}`));
  for (const key of keys) {
    const [provider, cls] = key.split("/") as [string, string];
    const inv = inventories.get(key);
    if (!inv)
      throw MulliganError.failedPrecondition(
        "INVENTORY_IN_USE",
        `provider ${provider} would hold allocations of ${cls} without an inventory of it`,
      );
    const used = usage(provider, cls, from);
    if (used > capacityOf(inv))
      throw new MulliganError(
        "RESOURCE_EXHAUSTED",
        "CAPACITY_EXCEEDED",
        `provider ${provider}: ${cls} capacity ${capacityOf(inv)}, ${used} would be allocated`,
        [],
        { provider_uuid: provider, resource_class: cls },
      );
  }
}

/**
 * Loads a Fleet into Placement through its REST API, trees in parallel (a tree's providers in
 * order, parents first): POST /resource_providers, then PUT inventories, traits and aggregates,
 * each with the provider generation the previous answer gave. Placement on SQLite answers some
 * concurrent writes with 500 "database is locked", so 5xx answers and dropped connections are
 * retried, and a 409 generation conflict re-reads the generation and tries again.
 */
import { runConcurrent } from "../lib/stats.js";
import type { Fleet, InventorySpec, ProviderSpec } from "./fleets.js";
import { type PlacementHttp, PlacementHttpError } from "./http.js";

const MAX_TRIES = 12;

async function pause(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Sends until a status of `ok` comes back, retrying 5xx and transport errors; 409 → onConflict. */
async function sendRetrying(
  http: PlacementHttp,
  method: string,
  path: string,
  body: () => unknown,
  ok: number[],
  onConflict?: () => Promise<void>,
): Promise<unknown> {
  let last = "";
  for (let attempt = 1; attempt <= MAX_TRIES; attempt++) {
    try {
      const r = await http.send(method, path, body());
      if (ok.includes(r.status)) return r.body;
      last = `${r.status} ${JSON.stringify(r.body).slice(0, 300)}`;
      if (r.status === 409 && onConflict) await onConflict();
      else if (r.status < 500) break;
    } catch (err) {
      last = (err as Error).message;
    }
    await pause(Math.min(2000, 20 * 2 ** attempt));
  }
  throw new PlacementHttpError(method, path, 0, `gave up: ${last}`);
}

function inventoryBody(inv: InventorySpec): Record<string, number> {
  const out: Record<string, number> = { total: inv.total };
  if (inv.reserved !== undefined) out.reserved = inv.reserved;
  if (inv.minUnit !== undefined) out.min_unit = inv.minUnit;
  if (inv.maxUnit !== undefined) out.max_unit = inv.maxUnit;
  if (inv.stepSize !== undefined) out.step_size = inv.stepSize;
  if (inv.allocationRatio !== undefined) out.allocation_ratio = inv.allocationRatio;
  return out;
}

function generationOf(body: unknown): number {
  const g = (body as { generation?: number; resource_provider_generation?: number }) ?? {};
  const gen = g.resource_provider_generation ?? g.generation;
  if (typeof gen !== "number") throw new Error(`no generation in ${JSON.stringify(body)}`);
  return gen;
}

async function loadProvider(http: PlacementHttp, p: ProviderSpec): Promise<void> {
  const path = `/resource_providers/${p.uuid}`;
  let generation = 0;
  const refresh = async () => {
    generation = generationOf(await http.expect("GET", path, undefined, [200]));
  };
  const created = await sendRetrying(
    http,
    "POST",
    "/resource_providers",
    () => ({ uuid: p.uuid, name: p.name, ...(p.parent ? { parent_provider_uuid: p.parent } : {}) }),
    [200, 409],
  );
  // 409: an earlier try was applied but its answer lost; the provider is there.
  if ((created as { uuid?: string })?.uuid === p.uuid) generation = generationOf(created);
  else await refresh();
  const put = async (what: string, payload: Record<string, unknown>) => {
    const body = await sendRetrying(
      http,
      "PUT",
      `${path}/${what}`,
      () => ({ resource_provider_generation: generation, ...payload }),
      [200],
      refresh,
    );
    generation = generationOf(body);
  };
  const inventories = Object.fromEntries(
    Object.entries(p.inventories).map(([rc, inv]) => [rc, inventoryBody(inv)]),
  );
  if (Object.keys(inventories).length > 0) await put("inventories", { inventories });
  if (p.traits.length > 0) await put("traits", { traits: p.traits });
  if (p.aggregates.length > 0) await put("aggregates", { aggregates: p.aggregates });
}

/** Creates the fleet's custom traits and classes, then every tree, `concurrency` at a time. */
export async function loadIntoPlacement(
  http: PlacementHttp,
  fleet: Fleet,
  concurrency: number,
  log: (line: string) => void,
): Promise<void> {
  for (const t of fleet.customTraits)
    await sendRetrying(http, "PUT", `/traits/${t}`, () => undefined, [201, 204]);
  for (const c of fleet.customClasses)
    await sendRetrying(http, "PUT", `/resource_classes/${c}`, () => undefined, [201, 204]);
  const step = Math.max(1, Math.floor(fleet.trees.length / 10));
  let done = 0;
  await runConcurrent(concurrency, { count: fleet.trees.length }, async ({ seq }) => {
    for (const p of fleet.trees[seq] ?? []) await loadProvider(http, p);
    done += 1;
    if (done % step === 0) log(`placement: loaded ${done}/${fleet.trees.length} trees`);
  });
}

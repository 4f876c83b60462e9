/**
 * Registers this host as a root provider of the resource engine and keeps its inventory and
 * capabilities current. The provider's UUID is chosen once and kept in `<stateDir>/host.json`,
 * so a restarted (or reinstalled, with its state) executor finds its provider again. Writes
 * happen only when something changed: every write bumps the provider's generation, which
 * would make claims racing with it retry for nothing.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import type {
  Inventory,
  Provider,
  ResourceService,
} from "../gen/mulligan/resource/v1/resource_pb.js";
import { newUuid } from "../platform/ids.js";
import { isUuid } from "../platform/validate.js";
import type { HostInventory, HostInventoryItem } from "./host-inventory.js";

/** The ResourceService calls registration makes (a fake implements just these). */
export type RegistrationCalls = Pick<
  Client<typeof ResourceService>,
  "createProvider" | "getProvider" | "getInventories" | "setInventories" | "setProviderCapabilities"
>;

/** The host as the resource engine knows it. */
export interface HostIdentity {
  uuid: string;
  name: string;
  /** Region name, slug or UUID. */
  region: string;
}

/** Attempts of one generation-checked write before giving up (each re-reads the provider). */
const GENERATION_ATTEMPTS = 5;

/**
 * Capabilities the executor discovers and therefore owns on its provider; any other (an
 * operator's CUSTOM_ trait, say) is left as it is.
 */
const DISCOVERED = /^(COMPUTE_NODE$|COMPUTE_ARCH_|HW_CPU_X86_)/;

/** The host's provider UUID from `<stateDir>/host.json`, created on first use. */
export async function loadHostUuid(stateDir: string): Promise<string> {
  const path = join(stateDir, "host.json");
  let text: string | undefined;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  if (text !== undefined) {
    let uuid: unknown;
    try {
      uuid = (JSON.parse(text) as { uuid?: unknown }).uuid;
    } catch {
      uuid = undefined;
    }
    // Never replace a damaged file silently: that would register a second provider.
    if (typeof uuid !== "string" || !isUuid(uuid))
      throw new Error(`${path} has no valid "uuid"; fix or remove it (HOST_FILE_INVALID)`);
    return uuid.toLowerCase();
  }
  const uuid = newUuid();
  await mkdir(stateDir, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify({ uuid }, null, 2)}\n`);
  await rename(tmp, path);
  return uuid;
}

/** Makes the provider exist and carry `inventory`; returns the provider as it now is. */
export async function registerHost(
  resource: RegistrationCalls,
  host: HostIdentity,
  inventory: HostInventory,
): Promise<Provider> {
  await ensureProvider(resource, host);
  await withGeneration(async () => {
    const current = await resource.getInventories({ provider: host.uuid });
    if (sameInventories(current.inventories, inventory.inventories)) return;
    await resource.setInventories({
      provider: host.uuid,
      generation: current.generation,
      inventories: inventory.inventories,
    });
  });
  let provider: Provider | undefined;
  await withGeneration(async () => {
    provider = await getProvider(resource, host.uuid);
    const wanted = mergeCapabilities(provider.capabilities, inventory.capabilities);
    if (sameSet(provider.capabilities, wanted)) return;
    const res = await resource.setProviderCapabilities({
      provider: host.uuid,
      generation: provider.generation,
      capabilities: wanted,
    });
    provider = res.provider ?? provider;
  });
  if (!provider) throw new Error("unreachable: provider read above");
  return provider;
}

/** The provider's capabilities with the discovered ones replaced by `discovered`. */
export function mergeCapabilities(current: readonly string[], discovered: readonly string[]) {
  const kept = current.filter((c) => !DISCOVERED.test(c));
  return [...new Set([...kept, ...discovered])].sort();
}

/** Finds the provider by its UUID or creates it (idempotently: the request id is derived). */
async function ensureProvider(resource: RegistrationCalls, host: HostIdentity): Promise<void> {
  try {
    await resource.getProvider({ provider: host.uuid });
    return;
  } catch (err) {
    if (ConnectError.from(err).code !== Code.NotFound) throw err;
  }
  try {
    await resource.createProvider({
      requestId: `register-host:${host.uuid}`,
      uuid: host.uuid,
      name: host.name,
      region: host.region,
    });
  } catch (err) {
    if (ConnectError.from(err).code !== Code.AlreadyExists) throw err;
    // Created meanwhile by ourselves, or the name belongs to another provider: tell which.
    try {
      await resource.getProvider({ provider: host.uuid });
    } catch (again) {
      if (ConnectError.from(again).code !== Code.NotFound) throw again;
      throw new Error(
        `host name "${host.name}" is taken by another provider (HOST_NAME_TAKEN); pick another --host-name`,
      );
    }
  }
}

async function getProvider(resource: RegistrationCalls, uuid: string): Promise<Provider> {
  const res = await resource.getProvider({ provider: uuid });
  if (!res.provider) throw new Error(`GetProvider ${uuid} answered without a provider`);
  return res.provider;
}

/** Runs a read-then-write step again when its write lost a generation race (ABORTED). */
async function withGeneration(step: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      if (ConnectError.from(err).code !== Code.Aborted || attempt >= GENERATION_ATTEMPTS) throw err;
    }
  }
}

function sameInventories(current: readonly Inventory[], wanted: readonly HostInventoryItem[]) {
  if (current.length !== wanted.length) return false;
  const byClass = new Map(current.map((i) => [i.resourceClass, i]));
  return wanted.every((w) => {
    const c = byClass.get(w.resourceClass);
    return (
      c !== undefined &&
      c.total === w.total &&
      c.reserved === w.reserved &&
      c.minUnit === w.minUnit &&
      c.maxUnit === w.maxUnit &&
      c.stepSize === w.stepSize &&
      Math.abs(c.allocationRatio - w.allocationRatio) < 1e-9
    );
  });
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const set = new Set(a);
  return set.size === b.length && b.every((x) => set.has(x));
}

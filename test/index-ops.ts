/**
 * The random workload of resource-index.test.ts: a seeded generator of provider, inventory,
 * capability, group and claim operations sent over gRPC (expected refusals counted, anything
 * else fails), the vocabulary it draws from, and queries written once and encoded twice — as the
 * wire ResourceQuery and as the engine's QueryInput — so the reference can run the same search.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../src/gen/google/rpc/error_details_pb.js";
import {
  DistanceConstraint_Relation,
  GroupLevel,
  GroupPolicy,
  type Inventory,
  type InventorySchema,
  type ResourceQuerySchema,
  ResourceService,
  Weigher,
} from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { newUuid } from "../src/platform/ids.js";
import type { DistanceInput, QueryInput, Window } from "../src/resource/model.js";
import type { TestServer } from "./harness.js";
import { prng } from "./prng.js";

export type Res = Client<typeof ResourceService>;
type InventoryInit = MessageInitShape<typeof InventorySchema>;

/** The run's seed: MULLIGAN_TEST_SEED, or a fresh one (printed in the test names). */
export const SEED = process.env.MULLIGAN_TEST_SEED
  ? Number(process.env.MULLIGAN_TEST_SEED)
  : Math.floor(Math.random() * 2 ** 31);

/** JSON.stringify replacer for messages holding int64 fields. */
export const big = (_k: string, v: unknown) => (typeof v === "bigint" ? Number(v) : v);

// ---- time: every reservation contains the instant PIVOT, so they all overlap each other ----

export const HOUR = 3600_000;
const YEAR = 365 * 24 * HOUR;
/** Whole seconds, a year and a half day from now: far beyond any test's duration. */
export const PIVOT = Math.floor(Date.now() / 1000) * 1000 + YEAR + 12 * HOUR;
export const iso = (ms: number) => new Date(ms).toISOString();
const wire = (w: Window) => ({
  start: timestampFromDate(new Date(w.start)),
  ...(w.end !== null && { end: timestampFromDate(new Date(w.end)) }),
});

// ---- vocabulary ----

export const CAPS = ["CUSTOM_IDX_A", "CUSTOM_IDX_B", "CUSTOM_IDX_C"] as const;
export const SHARING = "MISC_SHARES_VIA_AGGREGATE";
export const GPU = "CUSTOM_IDX_GPU";
export const CLASSES = ["VCPU", "MEMORY_MB", "DISK_GB", GPU] as const;

export interface Vocabulary {
  regionUuid: string;
  regionName: string;
  /** rack1, rack2 (level rack) and plain (no level), by name. */
  groups: { uuid: string; name: string }[];
  groupUuid: (name: string) => string;
}

/** Capabilities, a resource class, three provider groups and a region, over gRPC. */
export async function buildVocabulary(server: TestServer, tag: string): Promise<Vocabulary> {
  const res = server.client(ResourceService);
  for (const name of CAPS) await res.createCapability({ name });
  await res.createResourceClass({ name: GPU });
  const groups: { uuid: string; name: string }[] = [];
  for (const [name, level] of [
    ["rack1", GroupLevel.RACK],
    ["rack2", GroupLevel.RACK],
    ["plain", GroupLevel.UNSPECIFIED],
  ] as const) {
    const g = (await res.createProviderGroup({ name: `${tag}-${name}`, level })).group;
    if (!g) throw new Error("no group");
    groups.push({ uuid: g.uuid, name });
  }
  const region = (await server.meta().createRegion({ name: `${tag}-region` })).region;
  if (!region) throw new Error("no region");
  return {
    regionUuid: region.uuid,
    regionName: region.name,
    groups,
    groupUuid: (name) => groups.find((g) => g.name === name)?.uuid ?? "",
  };
}

// ---- queries: one spec, two encodings ----

interface GroupSpec {
  suffix?: string;
  resources: Record<string, number>;
  required?: string[];
  forbidden?: string[];
  anyOf?: string[][];
  memberOf?: string[][];
  forbiddenGroups?: string[];
  inTree?: string;
}

export interface QuerySpec {
  name: string;
  groups: GroupSpec[];
  groupPolicy?: "none" | "isolate";
  sameSubtree?: string[][];
  rootRequired?: string[];
  rootForbidden?: string[];
  distance?: DistanceInput[];
  /** Fixed window; without one both sides search from "now" on. */
  window?: Window;
  limit?: number;
}

export function grpcQuery(s: QuerySpec): MessageInitShape<typeof ResourceQuerySchema> {
  return {
    groups: s.groups.map((g) => ({
      suffix: g.suffix ?? "",
      resources: Object.fromEntries(Object.entries(g.resources).map(([c, n]) => [c, BigInt(n)])),
      required: g.required ?? [],
      forbidden: g.forbidden ?? [],
      anyOf: (g.anyOf ?? []).map((names) => ({ names })),
      memberOf: (g.memberOf ?? []).map((groups) => ({ groups })),
      forbiddenGroups: g.forbiddenGroups ?? [],
      inTree: g.inTree ?? "",
    })),
    groupPolicy:
      s.groupPolicy === "none"
        ? GroupPolicy.NONE
        : s.groupPolicy === "isolate"
          ? GroupPolicy.ISOLATE
          : GroupPolicy.UNSPECIFIED,
    sameSubtree: (s.sameSubtree ?? []).map((suffixes) => ({ suffixes })),
    rootRequired: s.rootRequired ?? [],
    rootForbidden: s.rootForbidden ?? [],
    distance: (s.distance ?? []).map((d) => ({
      relation:
        d.relation === "same"
          ? DistanceConstraint_Relation.SAME
          : DistanceConstraint_Relation.DIFFERENT,
      level: GroupLevel.RACK,
      consumers: [...d.consumers],
    })),
    ...(s.window && { window: wire(s.window) }),
    limit: s.limit ?? 0,
  };
}

export function engineQuery(s: QuerySpec, start: string): QueryInput {
  return {
    groups: s.groups.map((g) => ({
      suffix: g.suffix ?? "",
      resources: g.resources,
      required: g.required ?? [],
      forbidden: g.forbidden ?? [],
      anyOf: g.anyOf ?? [],
      memberOf: g.memberOf ?? [],
      forbiddenGroups: g.forbiddenGroups ?? [],
      inTree: g.inTree ?? null,
    })),
    groupPolicy: s.groupPolicy ?? null,
    sameSubtree: s.sameSubtree ?? [],
    rootRequired: s.rootRequired ?? [],
    rootForbidden: s.rootForbidden ?? [],
    regions: null,
    distance: s.distance ?? [],
    window: s.window ?? { start, end: null },
    limit: s.limit ?? 0,
  };
}

// ---- the random workload ----

/** Codes a random operation may legitimately end with (anything else fails the test). */
const EXPECTED = new Set([
  Code.FailedPrecondition,
  Code.ResourceExhausted,
  Code.Aborted,
  Code.NotFound,
  Code.AlreadyExists,
]);
/** INVALID_ARGUMENT reasons random inputs may hit on purpose. */
const EXPECTED_INVALID = new Set(["PROVIDER_CYCLE", "UNIT_CONSTRAINT"]);

export interface WorldOptions {
  seed: number;
  vocabulary: Vocabulary;
  /**
   * "free": inventories change at random (may shrink below usage); "grow": capacity never
   * drops, so the over-commit audit holds whatever order concurrent writes land in.
   */
  inventories: "free" | "grow";
  maxProviders: number;
}

/** The workload's view of the fleet (best effort: concurrent operations may outdate it). */
export class World {
  readonly rand: () => number;
  readonly providers = new Set<string>();
  readonly consumers = new Set<string>();
  readonly log: string[] = [];
  readonly outcomes = new Map<string, number>();
  private named = 0;

  constructor(private readonly options: WorldOptions) {
    this.rand = prng(options.seed);
  }

  int(lo: number, hi: number): number {
    return lo + Math.floor(this.rand() * (hi - lo + 1));
  }

  pick<T>(list: readonly T[]): T | undefined {
    return list.length === 0 ? undefined : list[Math.floor(this.rand() * list.length)];
  }

  chance(p: number): boolean {
    return this.rand() < p;
  }

  subset<T>(list: readonly T[], p: number): T[] {
    return list.filter(() => this.chance(p));
  }

  tail(n = 40): string {
    return this.log.slice(-n).join("\n");
  }

  /** Runs one call, recording its outcome; an unexpected error code throws. */
  async attempt<T>(label: string, desc: string, call: () => Promise<T>): Promise<T | undefined> {
    const index = this.log.push(`#${this.log.length} ${label} ${desc}`) - 1;
    let outcome = "ok";
    try {
      return await call();
    } catch (err) {
      const e = ConnectError.from(err);
      const reason = e.findDetails(ErrorInfoSchema)[0]?.reason ?? "?";
      outcome = `${Code[e.code]}:${reason}`;
      const expected =
        EXPECTED.has(e.code) || (e.code === Code.InvalidArgument && EXPECTED_INVALID.has(reason));
      if (!expected)
        throw new Error(
          `unexpected ${outcome} (${e.message}) from ${desc}\nseed ${this.options.seed}, ` +
            `operations so far:\n${this.tail()}`,
        );
      return undefined;
    } finally {
      this.log[index] += ` → ${outcome}`;
      const op = desc.split(" ")[0] ?? desc;
      this.outcomes.set(`${op} ${outcome}`, (this.outcomes.get(`${op} ${outcome}`) ?? 0) + 1);
    }
  }

  /** One random operation on `res`; returns its name. */
  async step(res: Res, label: string): Promise<string> {
    const few = this.providers.size < 4;
    const full = this.providers.size >= this.options.maxProviders;
    const ops: [number, string, () => Promise<void>][] = [
      [full ? 0 : few ? 8 : 2, "create", () => this.createProvider(res, label)],
      [1, "update", () => this.updateProvider(res, label)],
      [few ? 0 : 0.6, "delete", () => this.deleteProvider(res, label)],
      [3, "inventories", () => this.setInventories(res, label)],
      [1.2, "capabilities", () => this.setCapabilities(res, label)],
      [1.2, "groups", () => this.setGroups(res, label)],
      [4, "claim", () => this.claim(res, label)],
      [1.5, "release", () => this.release(res, label)],
      [2, "claim-best", () => this.claimBest(res, label)],
      [0.6, "reshape", () => this.reshape(res, label)],
    ];
    let r = this.rand() * ops.reduce((n, [w]) => n + w, 0);
    for (const [w, name, run] of ops) {
      r -= w;
      if (r < 0) {
        await run();
        return name;
      }
    }
    return "none";
  }

  private name(): string {
    // Mostly fresh names; sometimes an old one (a clash, or a new place in the name order).
    return `p${this.chance(0.15) ? this.int(0, this.named) : ++this.named}`;
  }

  private provider(): string | undefined {
    return this.pick([...this.providers]);
  }

  private reservation(): Window {
    return {
      start: iso(PIVOT - this.int(1, 12) * HOUR),
      end: iso(PIVOT + this.int(1, 12) * HOUR),
    };
  }

  private async generation(res: Res, label: string, uuid: string): Promise<bigint | undefined> {
    const got = await this.attempt(label, `get ${uuid}`, () => res.getProvider({ provider: uuid }));
    if (!got) this.providers.delete(uuid);
    return got?.provider?.generation;
  }

  private async createProvider(res: Res, label: string): Promise<void> {
    const parent = this.chance(0.5) ? this.provider() : undefined;
    const name = this.name();
    const created = await this.attempt(label, `create ${name} under ${parent ?? "-"}`, () =>
      res.createProvider({
        name,
        region: parent ? "" : this.options.vocabulary.regionUuid,
        parent: parent ?? "",
      }),
    );
    if (created?.provider) this.providers.add(created.provider.uuid);
  }

  private async updateProvider(res: Res, label: string): Promise<void> {
    const uuid = this.provider();
    if (!uuid) return;
    const generation = await this.generation(res, label, uuid);
    if (generation === undefined) return;
    if (this.chance(0.5)) {
      const name = this.name();
      await this.attempt(label, `update ${uuid} name=${name}`, () =>
        res.updateProvider({ provider: uuid, generation, name, updateMask: { paths: ["name"] } }),
      );
    } else {
      const parent = this.chance(0.3) ? "" : (this.provider() ?? "");
      await this.attempt(label, `update ${uuid} parent=${parent || "-"}`, () =>
        res.updateProvider({
          provider: uuid,
          generation,
          parent,
          updateMask: { paths: ["parent"] },
        }),
      );
    }
  }

  private async deleteProvider(res: Res, label: string): Promise<void> {
    const uuid = this.provider();
    if (!uuid) return;
    let gone = false;
    await this.attempt(label, `delete ${uuid}`, async () => {
      try {
        await res.deleteProvider({ provider: uuid });
        gone = true;
      } catch (err) {
        gone = ConnectError.from(err).code === Code.NotFound;
        throw err;
      }
    });
    if (gone) this.providers.delete(uuid);
  }

  private randomInventory(cls: string): InventoryInit {
    const scale = cls === "MEMORY_MB" ? 256 : cls === "DISK_GB" ? 20 : cls === GPU ? 1 : 2;
    const total = scale * this.int(1, 8);
    return {
      resourceClass: cls,
      total: BigInt(total),
      reserved: BigInt(this.chance(0.3) ? this.int(0, Math.floor(total / 4)) : 0),
      minUnit: BigInt(this.chance(0.2) ? this.int(1, 2) : 0),
      maxUnit: BigInt(this.chance(0.2) ? this.int(Math.ceil(total / 2), total) : 0),
      stepSize: BigInt(this.chance(0.15) ? 2 : 0),
      allocationRatio: this.pick([1, 1, 1, 1.5, 2, 0.75]) ?? 1,
    };
  }

  private async setInventories(res: Res, label: string): Promise<void> {
    const uuid = this.provider();
    if (!uuid) return;
    const current = await this.attempt(label, `inventories? ${uuid}`, () =>
      res.getInventories({ provider: uuid }),
    );
    if (!current) return;
    let list: InventoryInit[];
    if (this.options.inventories === "free") {
      list = this.subset(CLASSES, 0.55).map((c) => this.randomInventory(c));
    } else {
      // Capacity never drops: totals grow, reserved and ratio stay; new classes may appear.
      list = current.inventories.map((i: Inventory) => ({
        resourceClass: i.resourceClass,
        total: i.total + BigInt(this.int(0, 3)),
        reserved: i.reserved,
        minUnit: i.minUnit,
        maxUnit: this.chance(0.5) ? i.maxUnit : 0n,
        stepSize: i.stepSize,
        allocationRatio: i.allocationRatio,
      }));
      for (const c of CLASSES)
        if (!list.some((i) => i.resourceClass === c) && this.chance(0.3))
          list.push(this.randomInventory(c));
    }
    const desc = list
      .map((i) => `${i.resourceClass}:${i.total}-${i.reserved}x${i.allocationRatio}`)
      .join(",");
    await this.attempt(label, `inventories ${uuid} ${desc || "(none)"}`, () =>
      res.setInventories({ provider: uuid, generation: current.generation, inventories: list }),
    );
  }

  private async setCapabilities(res: Res, label: string): Promise<void> {
    const uuid = this.provider();
    if (!uuid) return;
    const generation = await this.generation(res, label, uuid);
    if (generation === undefined) return;
    const capabilities = [...this.subset(CAPS, 0.4), ...(this.chance(0.3) ? [SHARING] : [])];
    await this.attempt(label, `capabilities ${uuid} ${capabilities.join(",") || "(none)"}`, () =>
      res.setProviderCapabilities({ provider: uuid, generation, capabilities }),
    );
  }

  private async setGroups(res: Res, label: string): Promise<void> {
    const uuid = this.provider();
    if (!uuid) return;
    const generation = await this.generation(res, label, uuid);
    if (generation === undefined) return;
    const groups = this.subset(this.options.vocabulary.groups, 0.35);
    await this.attempt(
      label,
      `groups ${uuid} ${groups.map((g) => g.name).join(",") || "(none)"}`,
      () =>
        res.setProviderGroups({ provider: uuid, generation, groups: groups.map((g) => g.uuid) }),
    );
  }

  /** Resources for one provider: mostly classes it has, in valid units. */
  private async resourcesOn(res: Res, label: string, uuid: string) {
    const inv = await this.attempt(label, `inventories? ${uuid}`, () =>
      res.getInventories({ provider: uuid }),
    );
    const have = inv?.inventories ?? [];
    const out: Record<string, bigint> = {};
    for (const i of this.subset(have, 0.6)) {
      const step = i.stepSize > 0n ? i.stepSize : 1n;
      const unit = i.resourceClass === "MEMORY_MB" ? 64n : 1n;
      let n = unit * BigInt(this.int(1, 3));
      n = ((n + step - 1n) / step) * step;
      if (n < i.minUnit) n = i.minUnit;
      out[i.resourceClass] = n;
    }
    if (Object.keys(out).length === 0 || this.chance(0.1))
      out[this.pick(CLASSES) ?? "VCPU"] = BigInt(this.int(1, 3));
    return out;
  }

  private async claim(res: Res, label: string): Promise<void> {
    const targets = [this.provider(), ...(this.chance(0.3) ? [this.provider()] : [])];
    const allocations: { provider: string; resources: Record<string, bigint> }[] = [];
    for (const t of new Set(targets))
      if (t) allocations.push({ provider: t, resources: await this.resourcesOn(res, label, t) });
    if (allocations.length === 0) return;
    const window = this.chance(0.25) ? this.reservation() : undefined;
    const existing = this.chance(0.3) ? this.pick([...this.consumers]) : undefined;
    let consumerGeneration: bigint | undefined;
    if (existing) {
      const held = await this.attempt(label, `allocations? ${existing}`, () =>
        res.getAllocations({ consumer: existing }),
      );
      if (!held) this.consumers.delete(existing);
      consumerGeneration = held?.consumer?.generation;
    }
    const consumer = existing && consumerGeneration !== undefined ? existing : newUuid();
    const empty = consumer === existing && this.chance(0.15);
    const sent = empty ? [] : allocations;
    const desc = `claim ${consumer} gen=${consumerGeneration ?? "-"} ${JSON.stringify(sent, big)}${window ? ` window=${window.start}..${window.end}` : ""}`;
    const done = await this.attempt(label, desc, () =>
      res.claim({
        consumer,
        ...(consumer === existing && { consumerGeneration }),
        allocations: sent,
        ...(window && { window: wire(window) }),
      }),
    );
    if (done) {
      if (empty) this.consumers.delete(consumer);
      else this.consumers.add(consumer);
    }
  }

  private async release(res: Res, label: string): Promise<void> {
    const consumer = this.pick([...this.consumers]);
    if (!consumer) return;
    this.consumers.delete(consumer);
    await this.attempt(label, `release ${consumer}`, () => res.release({ consumer }));
  }

  private async claimBest(res: Res, label: string): Promise<void> {
    const spec: QuerySpec = {
      name: "claim-best",
      groups: [
        {
          resources: { VCPU: this.int(1, 2), ...(this.chance(0.5) && { MEMORY_MB: 128 }) },
          ...(this.chance(0.2) && { required: [this.pick(CAPS) ?? CAPS[0]] }),
        },
      ],
      ...(this.chance(0.25) && { window: this.reservation() }),
    };
    const weigher = this.pick([Weigher.PACK, Weigher.SPREAD, Weigher.RANDOM_TOP_K]);
    const got = await this.attempt(
      label,
      `claim-best ${JSON.stringify(grpcQuery(spec), big)}`,
      () => res.claimBest({ query: grpcQuery(spec), weigher }),
    );
    if (got?.consumer) {
      this.consumers.add(got.consumer.uuid);
      this.log[this.log.length - 1] += ` ${got.consumer.uuid}`;
    }
  }

  /**
   * Reshape: one provider's inventory changes (a total grows) while a consumer's allocations
   * on it are rewritten in the same transaction.
   */
  private async reshape(res: Res, label: string): Promise<void> {
    const consumer = this.pick([...this.consumers]);
    if (!consumer) return;
    const held = await this.attempt(label, `allocations? ${consumer}`, () =>
      res.getAllocations({ consumer }),
    );
    const target = this.pick(held?.allocations ?? []);
    if (!held?.consumer || !target) return;
    const inv = await this.attempt(label, `inventories? ${target.providerUuid}`, () =>
      res.getInventories({ provider: target.providerUuid }),
    );
    if (!inv) return;
    const grow = this.pick(inv.inventories);
    const inventories = inv.inventories.map((i) => ({
      resourceClass: i.resourceClass,
      total: i === grow ? i.total + BigInt(this.int(1, 4)) : i.total,
      reserved: i.reserved,
      minUnit: i.minUnit,
      maxUnit: i.maxUnit,
      stepSize: i.stepSize,
      allocationRatio: i.allocationRatio,
    }));
    const allocations = held.allocations.map((a) => ({
      provider: a.providerUuid,
      resources: a.resources,
    }));
    await this.attempt(
      label,
      `reshape ${target.providerUuid} ${grow?.resourceClass ?? "-"}+ with ${consumer}`,
      () =>
        res.reshape({
          inventories: [{ provider: target.providerUuid, generation: inv.generation, inventories }],
          allocations: [
            { consumer, consumerGeneration: held.consumer?.generation ?? 0n, allocations },
          ],
        }),
    );
  }
}

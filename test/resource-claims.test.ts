/**
 * ResourceService's claim side over real gRPC, on SQLite and PostgreSQL: claims with consumer
 * generations, unit constraints and capacity, replacing and emptying a set, release;
 * reservations in time; quotas at their boundary; usages with consumer counts; reshape; ClaimBest
 * with its weighers and explanations; the change stream; tenancy; and a table of bad inputs.
 * Each test works in its own region (queries are bounded by it) on its own providers.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../src/gen/google/rpc/error_details_pb.js";
import {
  GroupPolicy,
  type Inventory,
  type Provider,
  type ReshapeRequestSchema,
  ResourceService,
  WatchProvidersResponse_Change,
  Weigher,
} from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { newUuid, nowIso } from "../src/platform/ids.js";
import { appendChanges } from "../src/resource/repo/changes.js";
import { expectGrpcError, forEachStore } from "./harness.js";

let seq = 0;
const unique = (prefix: string) => `${prefix}-${process.pid}-${++seq}`;
const HOUR = 3600_000;
/** A Timestamp `hours` from a fixed base well in the future (whole seconds). */
const BASE = Math.floor(Date.now() / 1000) * 1000 + 24 * HOUR;
const at = (hours: number) => ({ seconds: BigInt((BASE + hours * HOUR) / 1000) });

type InventoryInit = Partial<Pick<Inventory, "total" | "minUnit" | "maxUnit" | "stepSize">> & {
  resourceClass?: string;
};

forEachStore("ResourceService claims", (server) => {
  const res = (token?: string) => server().client(ResourceService, token);

  async function region(): Promise<string> {
    const r = await server()
      .meta()
      .createRegion({ name: unique("rg") });
    return r.region?.name ?? assert.fail("no region");
  }

  async function provider(regionName: string, parent = ""): Promise<Provider> {
    const { provider: p } = await res().createProvider({
      name: unique("rp"),
      region: parent ? "" : regionName,
      parent,
    });
    return p ?? assert.fail("no provider");
  }

  async function inventory(p: Provider, list: InventoryInit[]) {
    const { generation } = await res().getInventories({ provider: p.uuid });
    await res().setInventories({
      provider: p.uuid,
      generation,
      inventories: list.map((i) => ({ resourceClass: "VCPU", total: 8n, ...i })),
    });
  }

  async function host(regionName: string, list: InventoryInit[] = [{}]) {
    const p = await provider(regionName);
    await inventory(p, list);
    return p;
  }

  const vcpu = (p: Provider, n: bigint) => [{ provider: p.uuid, resources: { VCPU: n } }];

  async function used(p: Provider, cls = "VCPU"): Promise<bigint> {
    const u = await res().getProviderUsages({ provider: p.uuid });
    return u.usages.find((s) => s.resourceClass === cls)?.used ?? 0n;
  }

  test("claims carry consumer generations; stale or missing ones are ABORTED", async () => {
    const p = await host(await region());
    const consumer = newUuid();
    const first = await res().claim({ consumer, allocations: vcpu(p, 2n), consumerType: "VM" });
    assert.equal(first.consumer?.generation, 1n);
    assert.equal(first.consumer?.consumerType, "VM");
    assert.equal(first.allocations[0]?.providerName, p.name);
    assert.equal(first.allocations[0]?.resources.VCPU, 2n);
    const before = (await res().getProvider({ provider: p.uuid })).provider?.generation ?? 0n;

    await expectGrpcError(
      res().claim({ consumer, allocations: vcpu(p, 3n) }),
      Code.Aborted,
      "CONSUMER_GENERATION_CONFLICT",
    );
    await expectGrpcError(
      res().claim({ consumer, consumerGeneration: 7n, allocations: vcpu(p, 3n) }),
      Code.Aborted,
      "CONSUMER_GENERATION_CONFLICT",
    );
    await expectGrpcError(
      res().claim({ consumer: newUuid(), consumerGeneration: 1n, allocations: vcpu(p, 1n) }),
      Code.Aborted,
      "CONSUMER_GENERATION_CONFLICT",
    );
    const second = await res().claim({
      consumer,
      consumerGeneration: 1n,
      allocations: vcpu(p, 3n),
    });
    assert.equal(second.consumer?.generation, 2n);
    assert.equal(second.consumer?.consumerType, "VM", "kept from the existing consumer");
    const after = (await res().getProvider({ provider: p.uuid })).provider?.generation ?? 0n;
    assert.ok(after > before, "a claim bumps the provider generation");
    const got = await res().getAllocations({ consumer });
    assert.equal(got.consumer?.generation, 2n);
    assert.deepEqual(
      got.allocations.map((a) => [a.providerUuid, a.resources.VCPU]),
      [[p.uuid, 3n]],
    );
    assert.equal(await used(p), 3n);
  });

  test("amounts respect min_unit, max_unit and step_size", async () => {
    const p = await host(await region(), [{ total: 16n, minUnit: 2n, maxUnit: 8n, stepSize: 2n }]);
    for (const n of [1n, 3n, 10n])
      await expectGrpcError(
        res().claim({ consumer: newUuid(), allocations: vcpu(p, n) }),
        Code.InvalidArgument,
        "UNIT_CONSTRAINT",
        "allocations[0].resources[VCPU]",
      );
    await res().claim({ consumer: newUuid(), allocations: vcpu(p, 8n) });
    assert.equal(await used(p), 8n);
  });

  test("capacity is checked across consumers; a failed new claim leaves nothing", async () => {
    const p = await host(await region());
    const other = await host(await region(), [{ resourceClass: "MEMORY_MB", total: 1024n }]);
    await res().claim({ consumer: newUuid(), allocations: vcpu(p, 6n) });
    const loser = newUuid();
    const err = await expectGrpcError(
      res().claim({
        consumer: loser,
        allocations: [
          { provider: other.uuid, resources: { MEMORY_MB: 512n } },
          { provider: p.name, resources: { VCPU: 3n } },
        ],
      }),
      Code.ResourceExhausted,
      "CAPACITY_EXCEEDED",
    );
    assert.match(err.message, /capacity 8, 6 in use/);
    await expectGrpcError(
      res().getAllocations({ consumer: loser }),
      Code.NotFound,
      "CONSUMER_NOT_FOUND",
    );
    assert.equal(await used(other, "MEMORY_MB"), 0n, "nothing of the failed claim remains");
    await expectGrpcError(
      res().claim({
        consumer: newUuid(),
        allocations: [{ provider: other.uuid, resources: { VCPU: 1n } }],
      }),
      Code.FailedPrecondition,
      "INVENTORY_MISSING",
    );
    await res().claim({ consumer: newUuid(), allocations: vcpu(p, 2n) });
    assert.equal(await used(p), 8n, "exactly full is allowed");
  });

  test("replacing a set counts the consumer's own old allocations out; an empty set removes it", async () => {
    const p = await host(await region());
    const consumer = newUuid();
    await res().claim({ consumer, allocations: vcpu(p, 6n) });
    const replaced = await res().claim({
      consumer,
      consumerGeneration: 1n,
      allocations: vcpu(p, 8n),
    });
    assert.equal(replaced.allocations[0]?.resources.VCPU, 8n);
    assert.equal(await used(p), 8n);
    const emptied = await res().claim({ consumer, consumerGeneration: 2n, allocations: [] });
    assert.equal(emptied.consumer, undefined);
    assert.equal(emptied.allocations.length, 0);
    assert.equal(await used(p), 0n);
    await expectGrpcError(res().getAllocations({ consumer }), Code.NotFound, "CONSUMER_NOT_FOUND");
    const again = await res().claim({ consumer, allocations: vcpu(p, 1n) });
    assert.equal(again.consumer?.generation, 1n, "a removed consumer starts anew");
  });

  test("release removes everything, optionally generation-checked", async () => {
    const p = await host(await region());
    const consumer = newUuid();
    await res().claim({ consumer, allocations: vcpu(p, 4n) });
    await expectGrpcError(
      res().release({ consumer, consumerGeneration: 5n }),
      Code.Aborted,
      "CONSUMER_GENERATION_CONFLICT",
    );
    await res().release({ consumer, consumerGeneration: 1n, requestId: `rel-${consumer}` });
    assert.equal(await used(p), 0n);
    await res().release({ consumer, consumerGeneration: 1n, requestId: `rel-${consumer}` });
    await expectGrpcError(res().release({ consumer }), Code.NotFound, "CONSUMER_NOT_FOUND");
  });

  test("reservations: overlapping windows add up, touching ones do not; listing shows them", async () => {
    const p = await host(await region());
    const a = newUuid();
    await res().claim({
      consumer: a,
      allocations: vcpu(p, 6n),
      window: { start: at(0), end: at(2) },
    });
    await expectGrpcError(
      res().claim({
        consumer: newUuid(),
        allocations: vcpu(p, 3n),
        window: { start: at(1), end: at(3) },
      }),
      Code.ResourceExhausted,
      "CAPACITY_EXCEEDED",
    );
    await expectGrpcError(
      res().claim({ consumer: newUuid(), allocations: vcpu(p, 3n), window: { start: at(-1) } }),
      Code.ResourceExhausted,
      "CAPACITY_EXCEEDED",
      undefined,
    );
    const b = newUuid();
    await res().claim({
      consumer: b,
      allocations: vcpu(p, 8n),
      window: { start: at(2), end: at(4) },
    });
    const c = newUuid();
    await res().claim({
      consumer: c,
      allocations: vcpu(p, 2n),
      window: { start: at(1), end: at(2) },
    });
    assert.equal(await used(p), 0n, "nothing holds now");

    const all = await res().listProviderAllocations({ provider: p.uuid });
    assert.deepEqual(
      all.allocations.map((x) => [x.consumer?.uuid, x.resources.VCPU]),
      [
        [a, 6n],
        [c, 2n],
        [b, 8n],
      ],
    );
    const first = await res().listProviderAllocations({ provider: p.uuid, pageSize: 2 });
    assert.equal(first.allocations.length, 2);
    const rest = await res().listProviderAllocations({
      provider: p.uuid,
      pageSize: 2,
      pageToken: first.nextPageToken,
    });
    assert.deepEqual(
      rest.allocations.map((x) => x.consumer?.uuid),
      [b],
    );
    const late = await res().listProviderAllocations({
      provider: p.uuid,
      window: { start: at(2), end: at(3) },
    });
    assert.deepEqual(
      late.allocations.map((x) => x.consumer?.uuid),
      [b],
      "windows ending at 2h do not overlap [2h, 3h)",
    );
    const got = await res().getAllocations({ consumer: b });
    assert.equal(got.consumer?.window?.start?.seconds, at(2).seconds);
    assert.equal(got.consumer?.window?.end?.seconds, at(4).seconds);
  });

  test("quotas: exactly reached is allowed, one more unit is refused; usage is reported", async () => {
    const project = unique("quota-proj");
    const member = await server().tokenFor({ role: "member", project });
    const p = await host(await region(), [{ total: 64n }]);
    const set = await res().setQuota({ project, resourceClass: "VCPU", limit: 10n });
    assert.equal(set.quota?.limit, 10n);
    await expectGrpcError(
      res(member).setQuota({ project, resourceClass: "VCPU", limit: 99n }),
      Code.PermissionDenied,
      "ROLE_REQUIRED",
    );
    await res(member).claim({ consumer: newUuid(), allocations: vcpu(p, 6n) });
    await res(member).claim({ consumer: newUuid(), allocations: vcpu(p, 4n), consumerType: "VM" });
    await expectGrpcError(
      res(member).claim({ consumer: newUuid(), allocations: vcpu(p, 1n) }),
      Code.ResourceExhausted,
      "QUOTA_EXCEEDED",
    );
    const quotas = await res(member).getQuotas({});
    assert.deepEqual(
      quotas.quotas.map((q) => [q.resourceClass, q.limit, q.used]),
      [["VCPU", 10n, 10n]],
    );
    const usages = await res(member).getUsages({});
    assert.deepEqual(
      usages.usages.map((u) => [u.resourceClass, u.used, u.limit]),
      [["VCPU", 10n, 10n]],
    );
    assert.equal(usages.consumerCount, 2n);
    const vms = await res(member).getUsages({ consumerType: "VM" });
    assert.deepEqual(
      vms.usages.map((u) => [u.resourceClass, u.used]),
      [["VCPU", 4n]],
    );
    assert.equal(vms.consumerCount, 1n);
    const removed = await res().setQuota({ project, resourceClass: "VCPU", limit: -1n });
    assert.equal(removed.quota?.limit, -1n);
    await res(member).claim({ consumer: newUuid(), allocations: vcpu(p, 1n) });
    assert.equal((await res(member).getQuotas({})).quotas.length, 0);
  });

  test("tenancy: members see and release only their project's consumers", async () => {
    const p = await host(await region());
    const a = await server().tokenFor({ role: "member", project: unique("ten-a") });
    const b = await server().tokenFor({ role: "member", project: unique("ten-b") });
    const consumer = newUuid();
    const claimed = await res(a).claim({ consumer, allocations: vcpu(p, 1n) });
    assert.ok(claimed.consumer?.projectUuid);
    await expectGrpcError(res(b).getAllocations({ consumer }), Code.NotFound, "CONSUMER_NOT_FOUND");
    await expectGrpcError(res(b).release({ consumer }), Code.NotFound, "CONSUMER_NOT_FOUND");
    await expectGrpcError(
      res(b).claim({ consumer, consumerGeneration: 1n, allocations: vcpu(p, 2n) }),
      Code.NotFound,
      "CONSUMER_NOT_FOUND",
    );
    await expectGrpcError(
      res(b).claim({ consumer: newUuid(), project: "ten-elsewhere", allocations: vcpu(p, 1n) }),
      Code.NotFound,
      "PROJECT_NOT_FOUND",
      "project",
    );
    assert.equal((await res().getAllocations({ consumer })).consumer?.uuid, consumer);
    await res(a).release({ consumer });
  });

  test("reshape moves VCPU from the root to two NUMA children with its allocations", async () => {
    const rg = await region();
    const root = await host(rg, [{ total: 8n }, { resourceClass: "MEMORY_MB", total: 4096n }]);
    const numa0 = await provider(rg, root.uuid);
    const numa1 = await provider(rg, root.uuid);
    const consumer = newUuid();
    await res().claim({
      consumer,
      allocations: [{ provider: root.uuid, resources: { VCPU: 4n, MEMORY_MB: 1024n } }],
    });
    const gen = async (p: Provider) =>
      (await res().getInventories({ provider: p.uuid })).generation;
    const request = async (
      g0: bigint,
      reserved: bigint,
    ): Promise<MessageInitShape<typeof ReshapeRequestSchema>> => ({
      inventories: [
        {
          provider: root.uuid,
          generation: await gen(root),
          inventories: [{ resourceClass: "MEMORY_MB", total: 4096n }],
        },
        {
          provider: numa0.uuid,
          generation: g0,
          inventories: [{ resourceClass: "VCPU", total: 4n, reserved }],
        },
        {
          provider: numa1.uuid,
          generation: await gen(numa1),
          inventories: [{ resourceClass: "VCPU", total: 4n }],
        },
      ],
      allocations: [
        {
          consumer,
          consumerGeneration: 1n,
          allocations: [
            { provider: root.uuid, resources: { MEMORY_MB: 1024n } },
            { provider: numa0.uuid, resources: { VCPU: 4n } },
          ],
        },
      ],
    });
    await expectGrpcError(
      res().reshape(await request((await gen(numa0)) + 5n, 0n)),
      Code.Aborted,
      "PROVIDER_GENERATION_CONFLICT",
    );
    await expectGrpcError(
      res().reshape(await request(await gen(numa0), 2n)),
      Code.ResourceExhausted,
      "CAPACITY_EXCEEDED",
    );
    await res().reshape(await request(await gen(numa0), 0n));
    const got = await res().getAllocations({ consumer });
    assert.equal(got.consumer?.generation, 2n);
    assert.deepEqual(
      got.allocations
        .map((a) => [a.providerUuid, a.resources.VCPU ?? 0n, a.resources.MEMORY_MB ?? 0n])
        .sort(),
      [
        [numa0.uuid, 4n, 0n],
        [root.uuid, 0n, 1024n],
      ].sort(),
    );
    assert.equal(await used(numa0), 4n);
    assert.equal(await used(numa1), 0n);
    const rootInv = await res().getInventories({ provider: root.uuid });
    assert.deepEqual(
      rootInv.inventories.map((i) => i.resourceClass),
      ["MEMORY_MB"],
    );
  });

  test("ClaimBest: pack and spread choose different hosts", async () => {
    const rg = await region();
    const busy = await host(rg);
    const idle = await host(rg);
    await res().claim({ consumer: newUuid(), allocations: vcpu(busy, 5n) });
    const query = { groups: [{ resources: { VCPU: 1n } }], region: rg };
    const packed = await res().claimBest({ query, weigher: Weigher.PACK, consumerType: "VM" });
    assert.equal(packed.allocations[0]?.providerUuid, busy.uuid);
    assert.equal(packed.attempts, 1);
    assert.equal(packed.consumer?.consumerType, "VM");
    const spread = await res().claimBest({ query, weigher: Weigher.SPREAD });
    assert.equal(spread.allocations[0]?.providerUuid, idle.uuid);

    const requestId = unique("best");
    const once = await res().claimBest({
      requestId,
      query,
      weigher: Weigher.RANDOM_TOP_K,
      topK: 2,
    });
    const twice = await res().claimBest({
      requestId,
      query,
      weigher: Weigher.RANDOM_TOP_K,
      topK: 2,
    });
    assert.equal(twice.consumer?.uuid, once.consumer?.uuid, "a retried request returns its result");
    assert.equal((await used(busy)) + (await used(idle)), 8n);
  });

  test("no capacity: FindCandidates and ClaimBest explain which constraint emptied the set", async () => {
    const rg = await region();
    await host(rg);
    const query = { groups: [{ resources: { VCPU: 100n } }], region: rg };
    const found = await res().findCandidates({ query });
    assert.equal(found.candidates.length, 0);
    assert.ok(found.explanation?.summary, "an explanation summary");
    assert.ok((found.explanation?.steps.length ?? 0) > 0, "explanation steps");
    const err = await expectGrpcError(
      res().claimBest({ query }),
      Code.ResourceExhausted,
      "NO_CANDIDATES",
    );
    assert.ok(err.message.includes(found.explanation?.summary ?? "?"), err.message);
    const info = err.findDetails(ErrorInfoSchema)[0];
    assert.ok(Array.isArray(JSON.parse(info?.metadata.explanation ?? "null")));

    const fits = await res().findCandidates({
      query: { ...query, groups: [{ resources: { VCPU: 2n } }] },
    });
    assert.equal(fits.candidates.length, 1);
    assert.ok(fits.providerSummaries.length >= 1);
  });

  test("FindCandidates honours the project's quota", async () => {
    const project = unique("q-find");
    const member = await server().tokenFor({ role: "member", project });
    const rg = await region();
    await host(rg);
    await res().setQuota({ project, resourceClass: "VCPU", limit: 2n });
    // Members do not see internal regions: their search spans every provider.
    const query = { groups: [{ resources: { VCPU: 3n } }] };
    const found = await res(member).findCandidates({ query });
    assert.equal(found.candidates.length, 0);
    assert.equal(found.explanation?.steps[0]?.constraint, "quota");
    const inRegion = await res().findCandidates({ query: { ...query, region: rg } });
    assert.equal(inRegion.candidates.length, 1, "the admin's own project has no quota");
  });

  test("WatchProviders streams a usage change", async () => {
    const p = await host(await region());
    const abort = new AbortController();
    const stream = res().watchProviders({ providers: [p.name] }, { signal: abort.signal });
    const seen = (async () => {
      for await (const change of stream)
        if (change.change === WatchProvidersResponse_Change.USAGE) return change;
      return undefined;
    })();
    await new Promise((r) => setTimeout(r, 300));
    await res().claim({ consumer: newUuid(), allocations: vcpu(p, 1n) });
    const change = await seen;
    abort.abort();
    assert.equal(change?.provider?.uuid, p.uuid);
    assert.ok((change?.sequence ?? 0n) > 0n);
    assert.equal(change?.inventories.find((i) => i.resourceClass === "VCPU")?.used, 1n);
  });

  /** The first change a WatchProviders stream sends, and a function that ends the stream. */
  function firstChange(req: { providers?: string[]; region?: string }) {
    const abort = new AbortController();
    const stream = res().watchProviders(req, { signal: abort.signal });
    const first = (async () => {
      for await (const change of stream) return change;
      return undefined;
    })();
    return { first, stop: () => abort.abort() };
  }

  test("WatchProviders streams a registry change (SetInventories)", async () => {
    const p = await provider(await region());
    const watch = firstChange({ providers: [p.uuid] });
    await new Promise((r) => setTimeout(r, 300));
    await inventory(p, [{ total: 6n }]);
    const change = await watch.first;
    watch.stop();
    assert.equal(change?.change, WatchProvidersResponse_Change.INVENTORY);
    assert.equal(change?.provider?.uuid, p.uuid);
    assert.equal(change?.inventories.find((i) => i.resourceClass === "VCPU")?.total, 6n);
  });

  test("WatchProviders with a region sends only that region's providers' changes", async () => {
    const [watched, other] = [await region(), await region()];
    const inside = await provider(watched);
    const outside = await provider(other);
    const watch = firstChange({ region: watched });
    await new Promise((r) => setTimeout(r, 300));
    await inventory(outside, [{ total: 2n }]);
    await inventory(inside, [{ total: 3n }]);
    const change = await watch.first;
    watch.stop();
    assert.equal(change?.change, WatchProvidersResponse_Change.INVENTORY);
    assert.equal(change?.provider?.uuid, inside.uuid, "the other region's change is not sent");
    assert.equal(change?.provider?.regionName, watched);
  });

  test("WatchProviders ends ABORTED (WATCH_FELL_BEHIND) when changes it had yet to send were pruned", async () => {
    const p = await provider(await region());
    const abort = new AbortController();
    const stream = res().watchProviders({ providers: [p.uuid] }, { signal: abort.signal });
    const ended = (async () => {
      for await (const _ of stream);
    })();
    await new Promise((r) => setTimeout(r, 300));
    // Changes committed and pruned at once, as if the stream had not read for the retention.
    const store = server().host.store;
    await store.transaction(async (tx) => {
      await appendChanges(store, tx, [p.uuid], "updated", nowIso());
      await appendChanges(store, tx, [p.uuid], "inventory", nowIso());
      const [newest] = await tx
        .selectFrom("resource_changes")
        .select("seq")
        .orderBy("seq", "desc")
        .limit(1)
        .execute();
      await tx.deleteFrom("resource_changes").where("seq", "<", Number(newest?.seq)).execute();
    });
    // A stream that goes on is cancelled after 10 s (and the check below fails on CANCELED).
    const giveUp = setTimeout(() => abort.abort(), 10_000);
    await expectGrpcError(ended, Code.Aborted, "WATCH_FELL_BEHIND");
    clearTimeout(giveUp);
  });

  test("bad inputs answer INVALID_ARGUMENT with the field at fault", async () => {
    const p = await host(await region());
    const ok = { consumer: newUuid(), allocations: vcpu(p, 1n) };
    const cases: [string, () => Promise<unknown>, string, string][] = [
      ["consumer uuid", () => res().claim({ ...ok, consumer: "nope" }), "UUID_INVALID", "consumer"],
      [
        "consumer missing",
        () => res().claim({ ...ok, consumer: "" }),
        "FIELD_REQUIRED",
        "consumer",
      ],
      [
        "zero amount",
        () => res().claim({ ...ok, allocations: vcpu(p, 0n) }),
        "AMOUNT_INVALID",
        "allocations[0].resources[VCPU]",
      ],
      [
        "unknown class",
        () =>
          res().claim({
            ...ok,
            allocations: [{ provider: p.uuid, resources: { CUSTOM_NOPE: 1n } }],
          }),
        "RESOURCE_CLASS_UNKNOWN",
        "allocations[0].resources[CUSTOM_NOPE]",
      ],
      [
        "window backwards",
        () => res().claim({ ...ok, window: { start: at(2), end: at(1) } }),
        "WINDOW_INVALID",
        "window.end",
      ],
      [
        "consumer type",
        () => res().claim({ ...ok, consumerType: "vm!" }),
        "CONSUMER_TYPE_INVALID",
        "consumer_type",
      ],
      [
        "group policy",
        () =>
          res().findCandidates({
            query: {
              groups: [
                { suffix: "a", resources: { VCPU: 1n } },
                { suffix: "b", resources: { VCPU: 1n } },
              ],
            },
          }),
        "GROUP_POLICY_REQUIRED",
        "query.group_policy",
      ],
      [
        "duplicate suffix",
        () =>
          res().findCandidates({
            query: {
              groupPolicy: GroupPolicy.NONE,
              groups: [
                { suffix: "a", resources: { VCPU: 1n } },
                { suffix: "a", resources: { VCPU: 1n } },
              ],
            },
          }),
        "SUFFIX_DUPLICATE",
        "query.groups[1].suffix",
      ],
      [
        "unknown capability",
        () =>
          res().findCandidates({
            query: { groups: [{ resources: { VCPU: 1n }, required: ["CUSTOM_NOPE"] }] },
          }),
        "CAPABILITY_UNKNOWN",
        "query.groups[0].required[0]",
      ],
      [
        "unknown group",
        () =>
          res().findCandidates({
            query: {
              groups: [{ resources: { VCPU: 1n }, memberOf: [{ groups: ["no-such-group"] }] }],
            },
          }),
        "GROUP_UNKNOWN",
        "query.groups[0].member_of[0].groups[0]",
      ],
      [
        "query window",
        () =>
          res().findCandidates({
            query: { groups: [{ resources: { VCPU: 1n } }], window: { start: at(1), end: at(1) } },
          }),
        "WINDOW_INVALID",
        "query.window.end",
      ],
      [
        "limit",
        () => res().findCandidates({ query: { groups: [{ resources: { VCPU: 1n } }], limit: -1 } }),
        "LIMIT_INVALID",
        "query.limit",
      ],
      [
        "quota class",
        () =>
          res().setQuota({
            project: server().admin.projectName,
            resourceClass: "CUSTOM_NOPE",
            limit: 1n,
          }),
        "RESOURCE_CLASS_UNKNOWN",
        "resource_class",
      ],
      [
        "quota limit",
        () =>
          res().setQuota({
            project: server().admin.projectName,
            resourceClass: "VCPU",
            limit: -2n,
          }),
        "AMOUNT_INVALID",
        "limit",
      ],
      [
        "reshape class listed twice",
        () =>
          res().reshape({
            inventories: [
              {
                provider: "nowhere",
                generation: 0n,
                inventories: [
                  { resourceClass: "VCPU", total: 4n },
                  { resourceClass: "VCPU", total: 8n },
                ],
              },
            ],
          }),
        "DUPLICATE_RESOURCE_CLASS",
        "inventories[0].inventories[1]",
      ],
    ];
    for (const [name, call, reason, field] of cases) {
      await expectGrpcError(call(), Code.InvalidArgument, reason, field).catch((err: unknown) => {
        throw new Error(`${name}: ${(err as Error).message}`);
      });
    }
    await expectGrpcError(
      res().findCandidates({
        query: { groups: [{ resources: { VCPU: 1n } }], region: "no-such-region" },
      }),
      Code.NotFound,
      "REGION_NOT_FOUND",
    );
    const err = await res()
      .claim({ ...ok, allocations: [{ provider: "no-such-provider", resources: { VCPU: 1n } }] })
      .catch((e: unknown) => ConnectError.from(e));
    assert.equal((err as ConnectError).code, Code.NotFound);
  });
});

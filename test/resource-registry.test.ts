/**
 * ResourceService's registry over real gRPC, on SQLite and PostgreSQL: standard and custom
 * classes and capabilities, provider trees (re-parenting, cycles, regions), generations,
 * inventories (defaults, validation, usage and over-capacity), provider capabilities and
 * groups, list filters and paging, idempotency, the change log, and who may do what. Tables of
 * bad inputs assert the exact code, reason and field.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Visibility } from "../src/gen/mulligan/meta/v1/meta_pb.js";
import {
  GroupLevel,
  type Inventory,
  type Provider,
  ResourceService,
} from "../src/gen/mulligan/resource/v1/resource_pb.js";
import type { Host } from "../src/host/host.js";
import { newUuid } from "../src/platform/ids.js";
import {
  expectGrpcError,
  type FreshStore,
  forEachStore,
  freshStore,
  STORE_KINDS,
  startHost,
  startTestServer,
  type TestServer,
} from "./harness.js";

/** The settable fields of an Inventory message. */
type InventoryInit = Partial<
  Pick<
    Inventory,
    "resourceClass" | "total" | "reserved" | "minUnit" | "maxUnit" | "stepSize" | "allocationRatio"
  >
>;

let seq = 0;
const unique = (prefix: string) => `${prefix}-${++seq}`;
const upper = (prefix: string) => `${prefix}_${++seq}`;

forEachStore("ResourceService registry", (server) => {
  const res = (token?: string) => server().client(ResourceService, token);
  let region = "";
  let otherRegion = "";

  before(async () => {
    region =
      (
        await server()
          .meta()
          .createRegion({ name: unique("rg") })
      ).region?.name ?? "";
    otherRegion =
      (
        await server()
          .meta()
          .createRegion({ name: unique("rg") })
      ).region?.name ?? "";
  });

  async function provider(fields: { parent?: string; name?: string; region?: string } = {}) {
    const { provider: p } = await res().createProvider({
      name: fields.name ?? unique("rp"),
      region: fields.region ?? (fields.parent ? "" : region),
      parent: fields.parent ?? "",
    });
    return p ?? assert.fail("no provider");
  }

  async function get(ref: string): Promise<Provider> {
    return (await res().getProvider({ provider: ref })).provider ?? assert.fail("no provider");
  }

  async function inventory(p: Provider, inventories: InventoryInit[]) {
    const current = await get(p.uuid);
    return res().setInventories({
      provider: p.uuid,
      generation: current.generation,
      inventories: inventories.map((i) => ({ resourceClass: "VCPU", total: 8n, ...i })),
    });
  }

  async function claim(p: Provider, resources: Record<string, bigint>, start?: Date) {
    const consumer = newUuid();
    await res().claim({
      consumer,
      allocations: [{ provider: p.uuid, resources }],
      ...(start && { window: { start: { seconds: BigInt(Math.floor(start.getTime() / 1000)) } } }),
    });
    return consumer;
  }

  /** Every item of a list, walked page by page. */
  async function walk<T>(
    page: (token: string) => Promise<{ items: T[]; nextPageToken: string }>,
  ): Promise<T[]> {
    const all: T[] = [];
    let token = "";
    do {
      const p = await page(token);
      all.push(...p.items);
      token = p.nextPageToken;
    } while (token !== "");
    return all;
  }

  test("resource classes: standard and custom, sorted and paged", async () => {
    const custom = upper("CUSTOM_GPU");
    const created = (await res().createResourceClass({ name: custom })).resourceClass;
    assert.deepEqual(
      { name: created?.name, standard: created?.standard },
      { name: custom, standard: false },
    );
    const all = await walk(async (pageToken) => {
      const r = await res().listResourceClasses({ pageSize: 7, pageToken });
      return { items: r.resourceClasses, nextPageToken: r.nextPageToken };
    });
    const names = all.map((c) => c.name);
    assert.deepEqual(names, [...names].sort(), "sorted by name");
    assert.equal(new Set(names).size, names.length, "no duplicates across pages");
    assert.equal(all.find((c) => c.name === "VCPU")?.standard, true);
    assert.equal(all.find((c) => c.name === "MEMORY_MB")?.standard, true);
    assert.equal(all.find((c) => c.name === custom)?.standard, false);
    const single = await res().listResourceClasses({ pageSize: 1000 });
    assert.deepEqual(
      single.resourceClasses.map((c) => c.name),
      names,
    );
    assert.equal(single.nextPageToken, "");
  });

  test("capabilities: prefix filter, standard and custom", async () => {
    const custom = upper("CUSTOM_FAST");
    await res().createCapability({ name: custom });
    const avx = await res().listCapabilities({ prefix: "HW_CPU_X86_AVX", pageSize: 1000 });
    assert.ok(avx.capabilities.length > 1);
    assert.ok(avx.capabilities.every((c) => c.name.startsWith("HW_CPU_X86_AVX") && c.standard));
    const mine = await res().listCapabilities({ prefix: custom });
    assert.deepEqual(
      mine.capabilities.map((c) => [c.name, c.standard]),
      [[custom, false]],
    );
    const sharing = await res().listCapabilities({ prefix: "MISC_SHARES_VIA_AGGREGATE" });
    assert.equal(sharing.capabilities[0]?.standard, true);
  });

  test("creating and deleting names: bad input, duplicates, standard and in-use names", async () => {
    const cls = upper("CUSTOM_CLS");
    const cap = upper("CUSTOM_CAP");
    await res().createResourceClass({ name: cls });
    await res().createCapability({ name: cap });
    const p = await provider();
    await inventory(p, [{ resourceClass: cls }]);
    await res().setProviderCapabilities({ provider: p.uuid, generation: 1n, capabilities: [cap] });
    const cases: [string, () => Promise<unknown>, Code, string, string?][] = [
      [
        "class exists",
        () => res().createResourceClass({ name: cls }),
        Code.AlreadyExists,
        "RESOURCE_CLASS_ALREADY_EXISTS",
      ],
      [
        "capability exists",
        () => res().createCapability({ name: cap }),
        Code.AlreadyExists,
        "CAPABILITY_ALREADY_EXISTS",
      ],
      [
        "class not custom",
        () => res().createResourceClass({ name: "GPU" }),
        Code.InvalidArgument,
        "CUSTOM_NAME_REQUIRED",
        "name",
      ],
      [
        "standard class",
        () => res().createResourceClass({ name: "VCPU" }),
        Code.InvalidArgument,
        "CUSTOM_NAME_REQUIRED",
        "name",
      ],
      [
        "bare prefix",
        () => res().createCapability({ name: "CUSTOM_" }),
        Code.InvalidArgument,
        "CUSTOM_NAME_REQUIRED",
        "name",
      ],
      [
        "lower case",
        () => res().createCapability({ name: "CUSTOM_fast" }),
        Code.InvalidArgument,
        "NAME_INVALID",
        "name",
      ],
      [
        "empty",
        () => res().createResourceClass({ name: "" }),
        Code.InvalidArgument,
        "FIELD_REQUIRED",
        "name",
      ],
      [
        "delete standard class",
        () => res().deleteResourceClass({ name: "VCPU" }),
        Code.FailedPrecondition,
        "STANDARD_NAME",
      ],
      [
        "delete standard capability",
        () => res().deleteCapability({ name: "HW_CPU_X86_AVX2" }),
        Code.FailedPrecondition,
        "STANDARD_NAME",
      ],
      [
        "delete unknown class",
        () => res().deleteResourceClass({ name: "CUSTOM_NOPE_X" }),
        Code.NotFound,
        "RESOURCE_CLASS_NOT_FOUND",
      ],
      [
        "delete unknown capability",
        () => res().deleteCapability({ name: "CUSTOM_NOPE_X" }),
        Code.NotFound,
        "CAPABILITY_NOT_FOUND",
      ],
      [
        "class in an inventory",
        () => res().deleteResourceClass({ name: cls }),
        Code.FailedPrecondition,
        "RESOURCE_CLASS_IN_USE",
      ],
      [
        "capability on a provider",
        () => res().deleteCapability({ name: cap }),
        Code.FailedPrecondition,
        "CAPABILITY_IN_USE",
      ],
    ];
    for (const [name, call, code, reason, field] of cases)
      await expectGrpcError(call(), code, reason, field).catch((err: Error) => {
        throw new Error(`${name}: ${err.message}`);
      });
    // Freed, they go.
    await res().setInventories({ provider: p.uuid, generation: 2n, inventories: [] });
    await res().setProviderCapabilities({ provider: p.uuid, generation: 3n, capabilities: [] });
    await res().deleteResourceClass({ name: cls });
    await res().deleteCapability({ name: cap });
    const left = await res().listResourceClasses({ pageSize: 1000 });
    assert.ok(!left.resourceClasses.some((c) => c.name === cls));
  });

  test("providers: roots, children, names, regions and caller-chosen UUIDs", async () => {
    const root = await provider();
    assert.equal(root.generation, 0n);
    assert.equal(root.rootUuid, root.uuid);
    assert.equal(root.rootName, root.name);
    assert.equal(root.parentUuid, "");
    assert.equal(root.regionName, region);
    const chosen = newUuid();
    const { provider: child } = await res().createProvider({
      name: unique("child"),
      parent: root.name,
      uuid: chosen.toUpperCase(),
    });
    assert.ok(child);
    assert.equal(child.uuid, chosen, "a caller's UUID is kept (lower-cased)");
    assert.deepEqual(
      [child.parentUuid, child.parentName, child.rootUuid, child.rootName],
      [root.uuid, root.name, root.uuid, root.name],
    );
    assert.equal(child.regionUuid, root.regionUuid, "a child inherits its parent's region");
    assert.equal(child.regionName, region);
    const grandchild = await provider({ parent: child.uuid, region });
    assert.equal(grandchild.rootName, root.name);
    assert.equal(grandchild.parentName, child.name);
    assert.deepEqual(await get(grandchild.name), await get(grandchild.uuid));

    const cases: [string, () => Promise<unknown>, Code, string, string?][] = [
      [
        "name taken",
        () => res().createProvider({ name: root.name, region }),
        Code.AlreadyExists,
        "PROVIDER_ALREADY_EXISTS",
        "name",
      ],
      [
        "uuid taken",
        () => res().createProvider({ name: unique("rp"), region, uuid: chosen }),
        Code.AlreadyExists,
        "PROVIDER_ALREADY_EXISTS",
        "uuid",
      ],
      [
        "root without region",
        () => res().createProvider({ name: unique("rp") }),
        Code.InvalidArgument,
        "FIELD_REQUIRED",
        "region",
      ],
      [
        "bad name",
        () => res().createProvider({ name: "-x", region }),
        Code.InvalidArgument,
        "NAME_INVALID",
        "name",
      ],
      [
        "bad uuid",
        () => res().createProvider({ name: unique("rp"), region, uuid: "nope" }),
        Code.InvalidArgument,
        "UUID_INVALID",
        "uuid",
      ],
      [
        "unknown region",
        () => res().createProvider({ name: unique("rp"), region: "no-such-region" }),
        Code.NotFound,
        "REGION_NOT_FOUND",
        "region",
      ],
      [
        "unknown parent",
        () => res().createProvider({ name: unique("rp"), parent: "no-such-rp" }),
        Code.NotFound,
        "PROVIDER_NOT_FOUND",
        "parent",
      ],
      [
        "child in another region",
        () => res().createProvider({ name: unique("rp"), parent: root.uuid, region: otherRegion }),
        Code.InvalidArgument,
        "REGION_MISMATCH",
        "region",
      ],
      [
        "get unknown",
        () => res().getProvider({ provider: newUuid() }),
        Code.NotFound,
        "PROVIDER_NOT_FOUND",
        "provider",
      ],
      [
        "get nothing",
        () => res().getProvider({ provider: "" }),
        Code.InvalidArgument,
        "FIELD_REQUIRED",
        "provider",
      ],
    ];
    for (const [name, call, code, reason, field] of cases)
      await expectGrpcError(call(), code, reason, field).catch((err: Error) => {
        throw new Error(`${name}: ${err.message}`);
      });
  });

  test("UpdateProvider: rename, re-parent a subtree, make a root, generations", async () => {
    const a = await provider();
    const b = await provider();
    const b1 = await provider({ parent: b.uuid });
    const b11 = await provider({ parent: b1.uuid });
    const newName = unique("renamed");
    const renamed = (
      await res().updateProvider({
        provider: a.uuid,
        generation: 0n,
        name: newName,
        updateMask: { paths: ["name"] },
      })
    ).provider;
    assert.equal(renamed?.name, newName);
    assert.equal(renamed?.generation, 1n);
    await expectGrpcError(
      res().updateProvider({
        provider: a.uuid,
        generation: 0n,
        name: "x",
        updateMask: { paths: ["name"] },
      }),
      Code.Aborted,
      "PROVIDER_GENERATION_CONFLICT",
    );
    // Move b1 (with b11 below it) under a: both now belong to a's tree.
    const moved = (
      await res().updateProvider({
        provider: b1.name,
        generation: 0n,
        parent: newName,
        updateMask: { paths: ["parent"] },
      })
    ).provider;
    assert.deepEqual([moved?.parentUuid, moved?.rootUuid, moved?.generation], [a.uuid, a.uuid, 1n]);
    const deep = await get(b11.uuid);
    assert.deepEqual([deep.rootUuid, deep.rootName, deep.generation], [a.uuid, newName, 1n]);
    // Cycles: into itself or below itself.
    for (const target of [b1.uuid, b11.uuid])
      await expectGrpcError(
        res().updateProvider({
          provider: b1.uuid,
          generation: 1n,
          parent: target,
          updateMask: { paths: ["parent"] },
        }),
        Code.InvalidArgument,
        "PROVIDER_CYCLE",
        "parent",
      );
    await expectGrpcError(
      res().updateProvider({
        provider: a.uuid,
        generation: 1n,
        parent: b11.uuid,
        updateMask: { paths: ["parent"] },
      }),
      Code.InvalidArgument,
      "PROVIDER_CYCLE",
      "parent",
    );
    // Make b1 a root again: b11's root follows.
    const root = (
      await res().updateProvider({
        provider: b1.uuid,
        generation: 1n,
        parent: "",
        updateMask: { paths: ["parent"] },
      })
    ).provider;
    assert.deepEqual([root?.parentUuid, root?.rootUuid], ["", b1.uuid]);
    assert.equal((await get(b11.uuid)).rootUuid, b1.uuid);
    assert.equal((await get(b.uuid)).generation, 0n, "the old parent is not changed");
    await expectGrpcError(
      res().updateProvider({ provider: a.uuid, generation: 1n, updateMask: { paths: ["uuid"] } }),
      Code.InvalidArgument,
      "UPDATE_MASK_INVALID",
      "update_mask",
    );
    await expectGrpcError(
      res().updateProvider({
        provider: a.uuid,
        generation: 1n,
        name: b.name,
        updateMask: { paths: ["name"] },
      }),
      Code.AlreadyExists,
      "PROVIDER_ALREADY_EXISTS",
    );
  });

  test("a tree lives in one region: moving the root moves it, a child cannot move alone", async () => {
    const root = await provider();
    const child = await provider({ parent: root.uuid });
    const grand = await provider({ parent: child.uuid });
    const movedRoot = (
      await res().updateProvider({
        provider: root.uuid,
        generation: 0n,
        region: otherRegion,
        updateMask: { paths: ["region"] },
      })
    ).provider;
    assert.equal(movedRoot?.regionName, otherRegion);
    for (const p of [child, grand]) {
      const now = await get(p.uuid);
      assert.equal(now.regionName, otherRegion);
      assert.equal(now.generation, 1n, "moving the tree changes every provider of it");
    }
    await expectGrpcError(
      res().updateProvider({
        provider: child.uuid,
        generation: 1n,
        region,
        updateMask: { paths: ["region"] },
      }),
      Code.InvalidArgument,
      "REGION_MISMATCH",
      "region",
    );
    // Re-parenting into a tree of another region needs the region moved along, explicitly.
    const elsewhere = await provider();
    await expectGrpcError(
      res().updateProvider({
        provider: child.uuid,
        generation: 1n,
        parent: elsewhere.uuid,
        updateMask: { paths: ["parent"] },
      }),
      Code.InvalidArgument,
      "REGION_MISMATCH",
      "parent",
    );
    const adopted = (
      await res().updateProvider({
        provider: child.uuid,
        generation: 1n,
        parent: elsewhere.uuid,
        region,
        updateMask: { paths: ["parent", "region"] },
      })
    ).provider;
    assert.deepEqual([adopted?.regionName, adopted?.rootUuid], [region, elsewhere.uuid]);
    const g = await get(grand.uuid);
    assert.deepEqual([g.regionName, g.rootUuid], [region, elsewhere.uuid]);
  });

  test("DeleteProvider: refused with children or allocations", async () => {
    const root = await provider();
    const child = await provider({ parent: root.uuid });
    await expectGrpcError(
      res().deleteProvider({ provider: root.uuid }),
      Code.FailedPrecondition,
      "PROVIDER_HAS_CHILDREN",
    );
    await inventory(child, [{ resourceClass: "VCPU", total: 4n }]);
    const consumer = await claim(child, { VCPU: 1n });
    await expectGrpcError(
      res().deleteProvider({ provider: child.name }),
      Code.FailedPrecondition,
      "PROVIDER_IN_USE",
    );
    await res().release({ consumer });
    await res().deleteProvider({ provider: child.name });
    await res().deleteProvider({ provider: root.uuid });
    await expectGrpcError(
      res().getProvider({ provider: root.uuid }),
      Code.NotFound,
      "PROVIDER_NOT_FOUND",
    );
  });

  test("inventories: defaults, capacity, validation and generations", async () => {
    const p = await provider();
    const r = await res().setInventories({
      provider: p.name,
      generation: 0n,
      inventories: [
        { resourceClass: "VCPU", total: 10n, reserved: 2n, allocationRatio: 1.5 },
        {
          resourceClass: "MEMORY_MB",
          total: 4096n,
          reserved: 4096n,
          minUnit: 256n,
          maxUnit: 2048n,
          stepSize: 256n,
        },
      ],
    });
    assert.equal(r.provider?.generation, 1n);
    assert.deepEqual(r.overCapacity, []);
    const got = await res().getInventories({ provider: p.uuid });
    assert.equal(got.generation, 1n);
    const shape = (i: Inventory) => [
      i.resourceClass,
      i.total,
      i.reserved,
      i.minUnit,
      i.maxUnit,
      i.stepSize,
      i.allocationRatio,
      i.capacity,
      i.used,
    ];
    assert.deepEqual(got.inventories.map(shape), [
      ["MEMORY_MB", 4096n, 4096n, 256n, 2048n, 256n, 1, 0n, 0n],
      ["VCPU", 10n, 2n, 1n, 10n, 1n, 1.5, 12n, 0n],
    ]);
    assert.deepEqual(r.inventories.map(shape), got.inventories.map(shape));
    const set = (inventories: InventoryInit[], generation = 1n) =>
      res().setInventories({
        provider: p.uuid,
        generation,
        inventories: inventories.map((i) => ({ resourceClass: "VCPU", total: 8n, ...i })),
      });
    const cases: [string, () => Promise<unknown>, Code, string, string?][] = [
      [
        "total 0",
        () => set([{ total: 0n }]),
        Code.InvalidArgument,
        "INVENTORY_INVALID",
        "inventories[0].total",
      ],
      [
        "reserved > total",
        () => set([{ reserved: 9n }]),
        Code.InvalidArgument,
        "INVENTORY_INVALID",
        "inventories[0].reserved",
      ],
      [
        "max < min",
        () => set([{ minUnit: 4n, maxUnit: 2n }]),
        Code.InvalidArgument,
        "UNIT_CONSTRAINT",
        "inventories[0].max_unit",
      ],
      [
        "ratio < 0",
        () => set([{ allocationRatio: -1 }]),
        Code.InvalidArgument,
        "INVENTORY_INVALID",
        "inventories[0].allocation_ratio",
      ],
      [
        "negative",
        () => set([{ reserved: -1n }]),
        Code.InvalidArgument,
        "AMOUNT_INVALID",
        "inventories[0].reserved",
      ],
      [
        "too big",
        () => set([{ total: 2n ** 60n }]),
        Code.InvalidArgument,
        "AMOUNT_INVALID",
        "inventories[0].total",
      ],
      [
        "bad class",
        () => set([{ resourceClass: "vcpu" }]),
        Code.InvalidArgument,
        "NAME_INVALID",
        "inventories[0].resource_class",
      ],
      [
        "twice",
        () => set([{}, {}]),
        Code.InvalidArgument,
        "DUPLICATE_RESOURCE_CLASS",
        "inventories[1]",
      ],
      [
        "unknown class",
        () => set([{}, { resourceClass: "CUSTOM_NEVER_MADE" }]),
        Code.InvalidArgument,
        "RESOURCE_CLASS_UNKNOWN",
        "inventories[1].resource_class",
      ],
      ["stale generation", () => set([{}], 0n), Code.Aborted, "PROVIDER_GENERATION_CONFLICT"],
      [
        "unknown provider",
        () => res().setInventories({ provider: newUuid(), generation: 0n }),
        Code.NotFound,
        "PROVIDER_NOT_FOUND",
        "provider",
      ],
    ];
    for (const [name, call, code, reason, field] of cases)
      await expectGrpcError(call(), code, reason, field).catch((err: Error) => {
        throw new Error(`${name}: ${err.message}`);
      });
    assert.equal((await get(p.uuid)).generation, 1n, "refused writes change nothing");
  });

  test("inventories: usage counts reservations; in-use classes stay; shrinking is reported", async () => {
    const p = await provider();
    await inventory(p, [
      { resourceClass: "VCPU", total: 8n },
      { resourceClass: "DISK_GB", total: 100n },
    ]);
    const now = await claim(p, { VCPU: 2n });
    const later = await claim(p, { VCPU: 3n }, new Date(Date.now() + 24 * 3600 * 1000));
    const got = await res().getInventories({ provider: p.uuid });
    // Peak over [now, ∞): the current 2 plus the reservation of 3 that starts tomorrow.
    assert.equal(got.inventories.find((i) => i.resourceClass === "VCPU")?.used, 5n);
    assert.equal(got.inventories.find((i) => i.resourceClass === "DISK_GB")?.used, 0n);
    await expectGrpcError(
      res().setInventories({
        provider: p.uuid,
        generation: got.generation,
        inventories: [{ resourceClass: "DISK_GB", total: 100n }],
      }),
      Code.FailedPrecondition,
      "INVENTORY_IN_USE",
    );
    const shrunk = await res().setInventories({
      provider: p.uuid,
      generation: got.generation,
      inventories: [{ resourceClass: "VCPU", total: 4n }],
    });
    assert.deepEqual(
      shrunk.overCapacity.map((o) => [o.resourceClass, o.capacity, o.used]),
      [["VCPU", 4n, 5n]],
    );
    assert.equal(shrunk.provider?.generation, got.generation + 1n);
    await res().release({ consumer: now });
    await res().release({ consumer: later });
  });

  test("provider capabilities: replaced as a set, unknown names refused", async () => {
    const p = await provider();
    const cap = upper("CUSTOM_SSD");
    await res().createCapability({ name: cap });
    const r = await res().setProviderCapabilities({
      provider: p.uuid,
      generation: 0n,
      capabilities: [cap, "HW_CPU_X86_AVX2"],
    });
    assert.deepEqual(r.provider?.capabilities, ["HW_CPU_X86_AVX2", cap].sort());
    assert.equal(r.provider?.generation, 1n);
    const set = (capabilities: string[], generation = 1n) =>
      res().setProviderCapabilities({ provider: p.uuid, generation, capabilities });
    await expectGrpcError(
      set(["HW_CPU_X86_AVX2", "CUSTOM_NEVER_MADE"]),
      Code.InvalidArgument,
      "CAPABILITY_UNKNOWN",
      "capabilities[1]",
    );
    await expectGrpcError(
      set([cap, cap]),
      Code.InvalidArgument,
      "DUPLICATE_CAPABILITY",
      "capabilities[1]",
    );
    await expectGrpcError(
      set(["bad name"]),
      Code.InvalidArgument,
      "NAME_INVALID",
      "capabilities[0]",
    );
    await expectGrpcError(set([], 0n), Code.Aborted, "PROVIDER_GENERATION_CONFLICT");
    const cleared = await set([]);
    assert.deepEqual(cleared.provider?.capabilities, []);
  });

  test("groups: levels, unique names, membership by name or UUID", async () => {
    const rack = (await res().createProviderGroup({ name: unique("rack"), level: GroupLevel.RACK }))
      .group;
    const plain = (await res().createProviderGroup({ name: unique("agg") })).group;
    assert.ok(rack && plain);
    assert.equal(rack.level, GroupLevel.RACK);
    assert.equal(plain.level, GroupLevel.UNSPECIFIED);
    await expectGrpcError(
      res().createProviderGroup({ name: rack.name }),
      Code.AlreadyExists,
      "PROVIDER_GROUP_ALREADY_EXISTS",
    );
    await expectGrpcError(
      res().createProviderGroup({ name: unique("g"), level: 9 as GroupLevel }),
      Code.InvalidArgument,
      "ENUM_UNKNOWN",
      "level",
    );
    const all = await walk(async (pageToken) => {
      const r = await res().listProviderGroups({ pageSize: 1, pageToken });
      return { items: r.groups, nextPageToken: r.nextPageToken };
    });
    assert.ok(all.some((g) => g.uuid === rack.uuid) && all.some((g) => g.uuid === plain.uuid));
    assert.deepEqual(
      all.map((g) => g.name),
      all.map((g) => g.name).sort(),
    );
    const p = await provider();
    const r = await res().setProviderGroups({
      provider: p.uuid,
      generation: 0n,
      groups: [rack.name, plain.uuid],
    });
    assert.deepEqual(r.provider?.groups, [rack.name, plain.name].sort());
    await expectGrpcError(
      res().setProviderGroups({ provider: p.uuid, generation: 1n, groups: [unique("nope")] }),
      Code.NotFound,
      "PROVIDER_GROUP_NOT_FOUND",
      "groups[0]",
    );
    await expectGrpcError(
      res().setProviderGroups({ provider: p.uuid, generation: 0n, groups: [] }),
      Code.Aborted,
      "PROVIDER_GENERATION_CONFLICT",
    );
    const left = await res().setProviderGroups({
      provider: p.uuid,
      generation: 1n,
      groups: [plain.name],
    });
    assert.deepEqual(left.provider?.groups, [plain.name]);
  });

  test("ListProviders: region subtree, tree, capabilities, group, prefix and paging", async () => {
    const top = (
      await server()
        .meta()
        .createRegion({ name: unique("top") })
    ).region;
    const sub = (
      await server()
        .meta()
        .createRegion({ name: unique("sub"), parent: top?.name ?? "" })
    ).region;
    assert.ok(top && sub);
    const prefix = unique("lp");
    const namePrefix = `${prefix}-`;
    const a = await provider({ name: `${prefix}-a`, region: top.name });
    const b = await provider({ name: `${prefix}-b`, region: sub.name });
    const b1 = await provider({ name: `${prefix}-b1`, parent: b.uuid });
    const c = await provider({ name: `${prefix}-c` });
    const cap = upper("CUSTOM_LIST");
    await res().createCapability({ name: cap });
    await res().setProviderCapabilities({
      provider: a.uuid,
      generation: 0n,
      capabilities: [cap, "HW_CPU_X86_SSE"],
    });
    await res().setProviderCapabilities({ provider: b1.uuid, generation: 0n, capabilities: [cap] });
    const group = (await res().createProviderGroup({ name: unique("lg") })).group?.name ?? "";
    await res().setProviderGroups({ provider: c.uuid, generation: 0n, groups: [group] });
    await res().setProviderGroups({ provider: b.uuid, generation: 0n, groups: [group] });

    const names = async (filter: Parameters<ReturnType<typeof res>["listProviders"]>[0]) =>
      (await res().listProviders({ namePrefix, ...filter })).providers.map((p) => p.name);
    assert.deepEqual(await names({}), [a.name, b.name, b1.name, c.name]);
    assert.deepEqual(await names({ region: top.name }), [a.name, b.name, b1.name]);
    assert.deepEqual(await names({ region: sub.uuid }), [b.name, b1.name]);
    assert.deepEqual(await names({ inTree: b1.name }), [b.name, b1.name]);
    assert.deepEqual(await names({ required: [cap] }), [a.name, b1.name]);
    assert.deepEqual(await names({ required: [cap, "HW_CPU_X86_SSE"] }), [a.name]);
    assert.deepEqual(await names({ memberOf: group }), [b.name, c.name]);
    assert.deepEqual(await names({ memberOf: group, region: sub.name }), [b.name]);
    const paged = await walk(async (pageToken) => {
      const r = await res().listProviders({ namePrefix, pageSize: 1, pageToken });
      return { items: r.providers, nextPageToken: r.nextPageToken };
    });
    assert.deepEqual(
      paged.map((p) => p.name),
      [a.name, b.name, b1.name, c.name],
    );
    assert.equal(paged[2]?.rootName, b.name);
    assert.equal(paged[1]?.regionName, sub.name);

    const cases: [string, () => Promise<unknown>, Code, string, string?][] = [
      [
        "unknown capability",
        () => res().listProviders({ required: ["CUSTOM_NEVER_MADE"] }),
        Code.InvalidArgument,
        "CAPABILITY_UNKNOWN",
        "required[0]",
      ],
      [
        "unknown region",
        () => res().listProviders({ region: "no-such-region" }),
        Code.NotFound,
        "REGION_NOT_FOUND",
        "region",
      ],
      [
        "unknown tree",
        () => res().listProviders({ inTree: newUuid() }),
        Code.NotFound,
        "PROVIDER_NOT_FOUND",
        "in_tree",
      ],
      [
        "unknown group",
        () => res().listProviders({ memberOf: "no-such-group" }),
        Code.NotFound,
        "PROVIDER_GROUP_NOT_FOUND",
        "member_of",
      ],
      [
        "bad token",
        () => res().listProviders({ pageToken: "garbage" }),
        Code.InvalidArgument,
        "PAGE_TOKEN_INVALID",
        "page_token",
      ],
      [
        "bad page size",
        () => res().listProviders({ pageSize: -1 }),
        Code.InvalidArgument,
        "PAGE_SIZE_INVALID",
        "page_size",
      ],
    ];
    for (const [name, call, code, reason, field] of cases)
      await expectGrpcError(call(), code, reason, field).catch((err: Error) => {
        throw new Error(`${name}: ${err.message}`);
      });
  });

  test("mutations are idempotent by request_id", async () => {
    const requestId = unique("req");
    const name = unique("idem");
    const first = (await res().createProvider({ requestId, name, region })).provider;
    const again = (await res().createProvider({ requestId, name, region })).provider;
    assert.equal(again?.uuid, first?.uuid);
    assert.equal(again?.regionName, region);
    await expectGrpcError(
      res().createProvider({ requestId, name: unique("other"), region }),
      Code.InvalidArgument,
      "REQUEST_ID_REUSED",
      "request_id",
    );
    const inv = {
      requestId: unique("inv"),
      provider: name,
      generation: 0n,
      inventories: [{ resourceClass: "VCPU", total: 4n }],
    };
    await res().setInventories(inv);
    const retried = await res().setInventories(inv);
    assert.equal(retried.provider?.generation, 1n, "a retry does not bump the generation again");
    assert.equal((await get(name)).generation, 1n);
    const cls = { requestId: unique("cls"), name: upper("CUSTOM_IDEM") };
    await res().createResourceClass(cls);
    await res().createResourceClass(cls);
  });

  test("every provider change appends to the change log, numbered without gaps", async () => {
    const db = server().host.store.db;
    const earlier = await db.selectFrom("resource_changes").select("seq").orderBy("seq").execute();
    const p = await provider();
    const child = await provider({ parent: p.uuid });
    await inventory(p, [{ total: 2n }]);
    await res().setProviderCapabilities({
      provider: child.uuid,
      generation: 0n,
      capabilities: ["HW_CPU_X86_AVX2"],
    });
    await res().updateProvider({
      provider: p.uuid,
      generation: 1n,
      region: otherRegion,
      updateMask: { paths: ["region"] },
    });
    await res().deleteProvider({ provider: child.uuid });
    const rows = await db
      .selectFrom("resource_changes")
      .select(["seq", "provider_uuid", "change"])
      .where("seq", ">", earlier.at(-1)?.seq ?? 0)
      .orderBy("seq")
      .execute();
    assert.deepEqual(
      rows.map((r) => [r.provider_uuid === p.uuid ? "p" : "child", r.change]),
      [
        ["p", "created"],
        ["child", "created"],
        ["p", "inventory"],
        ["child", "updated"],
        ["p", "updated"],
        ["child", "updated"],
        ["child", "deleted"],
      ],
    );
    const all = (
      await db.selectFrom("resource_changes").select("seq").orderBy("seq").execute()
    ).map((r) => Number(r.seq));
    assert.deepEqual(
      all,
      all.map((_, i) => i + 1),
    );
  });

  test("providers are fleet objects: executors manage them, project roles see none", async () => {
    const s = server();
    const external =
      (await s.meta().createRegion({ name: unique("ext"), visibility: Visibility.EXTERNAL })).region
        ?.name ?? "";
    const executor = await s.tokenFor({ role: "executor", project: null, kind: "executor" });
    const made = (await res(executor).createProvider({ name: unique("host"), region: external }))
      .provider;
    assert.ok(made);
    assert.equal(made.regionName, external);
    const numa = (await res(executor).createProvider({ name: unique("numa"), parent: made.uuid }))
      .provider;
    assert.equal(numa?.rootUuid, made.uuid);
    await res(executor).setInventories({
      provider: made.uuid,
      generation: 0n,
      inventories: [{ resourceClass: "VCPU", total: 4n }],
    });
    assert.equal((await res(executor).getInventories({ provider: made.name })).generation, 1n);
    const listed = await res(executor).listProviders({ namePrefix: made.name });
    assert.deepEqual(
      listed.providers.map((p) => p.uuid),
      [made.uuid],
    );
    await expectGrpcError(
      res(executor).deleteProvider({ provider: numa?.uuid ?? "" }),
      Code.PermissionDenied,
      "ROLE_REQUIRED",
    );

    const member = await s.tokenFor({ role: "member" });
    const reader = await s.tokenFor({ role: "reader" });
    const projectOperator = await s.tokenFor({ role: "operator" });
    await expectGrpcError(
      res(reader).getProvider({ provider: made.uuid }),
      Code.NotFound,
      "PROVIDER_NOT_FOUND",
    );
    await expectGrpcError(
      res(reader).getInventories({ provider: made.uuid }),
      Code.NotFound,
      "PROVIDER_NOT_FOUND",
    );
    assert.deepEqual((await res(reader).listProviders({})).providers, []);
    assert.deepEqual((await res(reader).listProviderGroups({})).groups, []);
    await expectGrpcError(
      res(member).getProvider({ provider: made.uuid }),
      Code.PermissionDenied,
      "ROLE_REQUIRED",
    );
    await expectGrpcError(
      res(projectOperator).createProvider({ name: unique("rp"), region: external }),
      Code.PermissionDenied,
      "FLEET_ROLE_REQUIRED",
    );
    await expectGrpcError(
      res(projectOperator).deleteProvider({ provider: made.uuid }),
      Code.PermissionDenied,
      "FLEET_ROLE_REQUIRED",
    );
    await expectGrpcError(
      res(projectOperator).createProviderGroup({ name: unique("g") }),
      Code.PermissionDenied,
      "FLEET_ROLE_REQUIRED",
    );
    // Everyone may read the class and capability lists.
    assert.ok((await res(member).listResourceClasses({})).resourceClasses.length > 0);
    assert.ok((await res(member).listCapabilities({ prefix: "HW_" })).capabilities.length > 0);
  });
});

for (const kind of STORE_KINDS)
  describe(`resource in its own process finds regions through meta's API [${kind}]`, () => {
    let store: FreshStore | undefined;
    let first: TestServer | undefined;
    let resourceHost: Host | undefined;

    before(async () => {
      store = await freshStore(kind);
      first = await startTestServer(store.url, ["iam", "meta"]);
      resourceHost = await startHost(store.url, ["resource"]);
    });
    after(async () => {
      await resourceHost?.stop(1000);
      await first?.stop();
      await store?.drop();
    });

    test("regions are resolved, named and walked over MetadataService", async () => {
      assert.ok(first && resourceHost);
      const meta = first.meta();
      const top = (await meta.createRegion({ name: unique("far") })).region;
      const sub = (await meta.createRegion({ name: unique("far-sub"), parent: top?.uuid ?? "" }))
        .region;
      assert.ok(top && sub);
      const token = first.admin.token;
      const res = createClient(
        ResourceService,
        createGrpcTransport({
          baseUrl: resourceHost.url,
          interceptors: [
            (next) => (req) => {
              req.header.set("authorization", `Bearer ${token}`);
              return next(req);
            },
          ],
        }),
      );
      const made = (await res.createProvider({ name: unique("remote"), region: sub.slug }))
        .provider;
      assert.deepEqual([made?.regionUuid, made?.regionName], [sub.uuid, sub.name]);
      const listed = await res.listProviders({ region: top.name });
      assert.deepEqual(
        listed.providers.map((p) => p.uuid),
        [made?.uuid],
      );
      await expectGrpcError(
        res.createProvider({ name: unique("remote"), region: "no-such-region" }),
        Code.NotFound,
        "REGION_NOT_FOUND",
        "region",
      );
    });
  });

/**
 * Candidate search, pure: MemorySnapshot fixtures mirroring Placement's functional fixtures
 * (placement/tests/functional/fixtures/gabbits.py) and the candidate sets its gabbits assert.
 * Provider UUIDs are the provider names, so expectations read as trees.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  requestGroup as g,
  inventory,
  queryInput as q,
  WINDOW,
} from "../../../test/engine-fixtures.js";
import type {
  AllocationRecord,
  GroupLevelName,
  GroupRecord,
  InventoryRecord,
  ProviderRecord,
  QueryInput,
  SearchResult,
} from "../model.js";
import { checkQueryShape, findCandidates } from "./candidates.js";
import { MemorySnapshot } from "./snapshot.js";

type Inv = number | (Partial<InventoryRecord> & { total: number });
interface RpSpec {
  parent?: string;
  caps?: string[];
  groups?: string[];
  inv?: Record<string, Inv>;
  region?: string;
}

/** Builds a snapshot from provider specs; UUID = name. */
class Fixture {
  private readonly specs = new Map<string, RpSpec>();
  private readonly groupRecords: GroupRecord[] = [];
  private readonly allocations: AllocationRecord[] = [];

  rp(name: string, spec: RpSpec = {}): this {
    this.specs.set(name, spec);
    return this;
  }
  group(name: string, level: GroupLevelName | null = null): this {
    this.groupRecords.push({ uuid: name, name, level });
    return this;
  }
  use(provider: string, resourceClass: string, amount: number, consumer = "consumer"): this {
    this.allocations.push({
      consumerUuid: consumer,
      providerUuid: provider,
      resourceClass,
      amount,
      window: WINDOW,
    });
    return this;
  }
  snapshot(): MemorySnapshot {
    const rootOf = (name: string): string => {
      const parent = this.specs.get(name)?.parent;
      return parent ? rootOf(parent) : name;
    };
    const providers: ProviderRecord[] = [...this.specs].map(([name, s]) => ({
      uuid: name,
      name,
      regionUuid: s.region ?? "r1",
      parentUuid: s.parent ?? null,
      rootUuid: rootOf(name),
      generation: 1,
      capabilities: s.caps ?? [],
      groups: s.groups ?? [],
      inventories: new Map(
        Object.entries(s.inv ?? {}).map(([rc, v]) => {
          const o = typeof v === "number" ? { total: v } : v;
          return [rc, inventory(rc, o.total, o)];
        }),
      ),
    }));
    return new MemorySnapshot(providers, this.groupRecords, this.allocations);
  }
}

/** Each candidate as "provider:CLASS=n,… | …", sorted (Placement asserts sets). */
function allocs(r: SearchResult): string[] {
  return r.candidates
    .map((c) =>
      [...c.allocations]
        .map(
          ([p, res]) =>
            `${p}:${Object.entries(res)
              .map(([rc, n]) => `${rc}=${n}`)
              .join(",")}`,
        )
        .join(" | "),
    )
    .sort();
}

/** Each candidate's mappings as "suffix=providers;…", sorted. */
function maps(r: SearchResult): string[] {
  return r.candidates
    .map((c) => [...c.mappings].map(([s, ps]) => `${s || "-"}=${ps.join("+")}`).join(";"))
    .sort();
}

// SharedStorageFixture: cn1 (no disk, SSE traits) and cn2 (local disk), each with two NUMA
// nodes and a PF under each; ss and ss2 share DISK_GB with both through one group.
const shared = new Fixture()
  .group("agg")
  .rp("cn1", {
    groups: ["agg"],
    caps: ["HW_CPU_X86_SSE", "HW_CPU_X86_SSE2"],
    inv: {
      VCPU: { total: 24, allocationRatio: 16 },
      MEMORY_MB: { total: 131072, allocationRatio: 1.5 },
    },
  })
  .rp("cn2", {
    groups: ["agg"],
    inv: {
      VCPU: { total: 24, allocationRatio: 16 },
      MEMORY_MB: { total: 131072, allocationRatio: 1.5 },
      DISK_GB: { total: 2000, reserved: 100 },
    },
  })
  .rp("ss", {
    groups: ["agg"],
    caps: ["MISC_SHARES_VIA_AGGREGATE"],
    inv: { DISK_GB: { total: 2000, reserved: 100 } },
  })
  .rp("ss2", {
    groups: ["agg"],
    caps: ["MISC_SHARES_VIA_AGGREGATE"],
    inv: { DISK_GB: { total: 2000, reserved: 100 } },
  })
  .rp("numa1_1", { parent: "cn1" })
  .rp("numa1_2", { parent: "cn1" })
  .rp("numa2_1", { parent: "cn2" })
  .rp("numa2_2", { parent: "cn2" })
  .rp("pf1_1", { parent: "numa1_1", inv: { SRIOV_NET_VF: 8 } })
  .rp("pf1_2", { parent: "numa1_2", inv: { SRIOV_NET_VF: 8 } })
  .rp("pf2_1", { parent: "numa2_1", inv: { SRIOV_NET_VF: 8 } })
  .rp("pf2_2", { parent: "numa2_2", inv: { SRIOV_NET_VF: 8 } })
  .snapshot();

// NUMAAggregateFixture: resourceless roots cn1 (aggA) and cn2 (aggA, aggB), VCPU on NUMA
// children; ss1 shares DISK_GB via aggA, ss2 via aggC with numa1_1 only.
const numaAgg = new Fixture()
  .group("aggA")
  .group("aggB")
  .group("aggC")
  .rp("cn1", { groups: ["aggA"] })
  .rp("cn2", { groups: ["aggA", "aggB"] })
  .rp("ss1", {
    groups: ["aggA"],
    caps: ["MISC_SHARES_VIA_AGGREGATE"],
    inv: { DISK_GB: { total: 2000, reserved: 100 } },
  })
  .rp("ss2", {
    groups: ["aggC"],
    caps: ["MISC_SHARES_VIA_AGGREGATE"],
    inv: { DISK_GB: { total: 2000, reserved: 100 } },
  })
  .rp("numa1_1", {
    parent: "cn1",
    groups: ["aggC"],
    inv: { VCPU: { total: 24, allocationRatio: 16 } },
  })
  .rp("numa1_2", { parent: "cn1", inv: { VCPU: { total: 24, allocationRatio: 16 } } })
  .rp("numa2_1", { parent: "cn2", inv: { VCPU: { total: 24, allocationRatio: 16 } } })
  .rp("numa2_2", { parent: "cn2", inv: { VCPU: { total: 24, allocationRatio: 16 } } })
  .snapshot();

// NUMANetworkFixture (compute part): cn1 with two HW_NUMA_ROOT nodes (interesting min_unit /
// step_size, 2 VCPU used on numa0) and FPGA / VGPU devices; cn2 a flat host with CUSTOM_FOO.
const numaNet = new Fixture()
  .group("aggA")
  .rp("ss1", { groups: ["aggA"], caps: ["MISC_SHARES_VIA_AGGREGATE"], inv: { DISK_GB: 2000 } })
  .rp("cn1", { groups: ["aggA"], caps: ["COMPUTE_VOLUME_MULTI_ATTACH"] })
  .rp("numa0", {
    parent: "cn1",
    caps: ["HW_NUMA_ROOT"],
    inv: { VCPU: 4, MEMORY_MB: { total: 2048, minUnit: 512, stepSize: 256 } },
  })
  .rp("numa1", {
    parent: "cn1",
    caps: ["HW_NUMA_ROOT", "CUSTOM_FOO"],
    inv: { VCPU: 4, MEMORY_MB: { total: 2048, minUnit: 256, maxUnit: 1024 } },
  })
  .rp("fpga0", { parent: "numa0", inv: { CUSTOM_FPGA: 1 } })
  .rp("pgpu0", { parent: "numa0", inv: { VGPU: 8 } })
  .rp("fpga1_0", { parent: "numa1", inv: { CUSTOM_FPGA: 1 } })
  .rp("fpga1_1", { parent: "numa1", inv: { CUSTOM_FPGA: 1 } })
  .rp("cn2", {
    groups: ["aggA"],
    caps: ["CUSTOM_FOO"],
    inv: { VCPU: 8, MEMORY_MB: { total: 2048, minUnit: 1024, stepSize: 128 }, DISK_GB: 1000 },
  })
  .use("numa0", "VCPU", 2)
  .use("cn2", "VCPU", 3)
  .snapshot();

// The wide tree: one host with 8 one-unit GPU children.
const wide = (() => {
  const f = new Fixture().rp("host", { inv: { VCPU: 8 } });
  for (let i = 0; i < 8; i++) f.rp(`gpu${i}`, { parent: "host", inv: { CUSTOM_GPU: 1 } });
  return f.snapshot();
})();
const gpuGroups = (n: number) => Array.from({ length: n }, (_, i) => g(`g${i}`, { CUSTOM_GPU: 1 }));

interface Case {
  name: string;
  snapshot: MemorySnapshot;
  query: QueryInput;
  allocations?: string[];
  mappings?: string[];
  count?: number;
}

const cases: Case[] = [
  {
    name: "shared storage: each host with each sharing provider, cn2 also alone",
    snapshot: shared,
    query: q([g("", { VCPU: 1, MEMORY_MB: 1024, DISK_GB: 100 })]),
    allocations: [
      "cn1:MEMORY_MB=1024,VCPU=1 | ss:DISK_GB=100",
      "cn1:MEMORY_MB=1024,VCPU=1 | ss2:DISK_GB=100",
      "cn2:DISK_GB=100,MEMORY_MB=1024,VCPU=1",
      "cn2:MEMORY_MB=1024,VCPU=1 | ss2:DISK_GB=100",
      "cn2:MEMORY_MB=1024,VCPU=1 | ss:DISK_GB=100",
    ],
  },
  {
    name: "shared storage: disk only, identical candidates from several trees returned once",
    snapshot: shared,
    query: q([g("", { DISK_GB: 100 })]),
    allocations: ["cn2:DISK_GB=100", "ss2:DISK_GB=100", "ss:DISK_GB=100"],
  },
  {
    name: "shared storage: required trait on the tree, disk from a sharing provider",
    snapshot: shared,
    query: q([g("", { VCPU: 1, DISK_GB: 100 }, { required: ["HW_CPU_X86_SSE"] })]),
    allocations: ["cn1:VCPU=1 | ss2:DISK_GB=100", "cn1:VCPU=1 | ss:DISK_GB=100"],
  },
  {
    name: "shared storage: forbidden trait removes cn1",
    snapshot: shared,
    query: q([g("", { VCPU: 1, DISK_GB: 100 }, { forbidden: ["HW_CPU_X86_SSE"] })]),
    count: 3,
  },
  {
    name: "shared storage: required trait no provider of the combination has",
    snapshot: shared,
    query: q([g("", { VCPU: 1 }, { required: ["HW_CPU_X86_AVX"] })]),
    count: 0,
  },
  {
    name: "granular isolate: two VFs on distinct PFs of one tree",
    snapshot: shared,
    query: q([g("", { VCPU: 1 }), g("1", { SRIOV_NET_VF: 1 }), g("2", { SRIOV_NET_VF: 1 })], {
      groupPolicy: "isolate",
    }),
    mappings: [
      "-=cn1;1=pf1_1;2=pf1_2",
      "-=cn1;1=pf1_2;2=pf1_1",
      "-=cn2;1=pf2_1;2=pf2_2",
      "-=cn2;1=pf2_2;2=pf2_1",
    ],
  },
  {
    name: "granular none: groups may share a PF, amounts merged",
    snapshot: shared,
    query: q([g("1", { SRIOV_NET_VF: 3 }), g("2", { SRIOV_NET_VF: 4 })], { groupPolicy: "none" }),
    count: 8,
  },
  {
    name: "granular none: merged amount over capacity is refused",
    snapshot: shared,
    query: q([g("1", { SRIOV_NET_VF: 5 }), g("2", { SRIOV_NET_VF: 5 })], { groupPolicy: "none" }),
    count: 4,
  },
  {
    name: "numa aggregates: sharing via a child's group anchors the child's tree",
    snapshot: numaAgg,
    query: q([g("", { VCPU: 1, DISK_GB: 10 })]),
    allocations: [
      "numa1_1:VCPU=1 | ss1:DISK_GB=10",
      "numa1_1:VCPU=1 | ss2:DISK_GB=10",
      "numa1_2:VCPU=1 | ss1:DISK_GB=10",
      "numa1_2:VCPU=1 | ss2:DISK_GB=10",
      "numa2_1:VCPU=1 | ss1:DISK_GB=10",
      "numa2_2:VCPU=1 | ss1:DISK_GB=10",
    ],
  },
  {
    name: "numa aggregates: member_of on the root spans its tree (unnamed group)",
    snapshot: numaAgg,
    query: q([g("", { VCPU: 1 }, { memberOf: [["aggB"]] })]),
    allocations: ["numa2_1:VCPU=1", "numa2_2:VCPU=1"],
  },
  {
    name: "numa aggregates: member_of on a child covers only that child",
    snapshot: numaAgg,
    query: q([g("", { VCPU: 1 }, { memberOf: [["aggC"]] })]),
    allocations: ["numa1_1:VCPU=1"],
  },
  {
    name: "numa aggregates: sharing providers outside member_of are not used",
    snapshot: numaAgg,
    query: q([g("", { VCPU: 1, DISK_GB: 10 }, { memberOf: [["aggA"]] })]),
    count: 4,
  },
  {
    name: "numa aggregates: forbidden group on the root excludes the tree",
    snapshot: numaAgg,
    query: q([g("", { VCPU: 1 }, { forbiddenGroups: ["aggB"] })]),
    allocations: ["numa1_1:VCPU=1", "numa1_2:VCPU=1"],
  },
  {
    name: "numa aggregates: a named group's provider must itself be in the group",
    snapshot: numaAgg,
    query: q([g("1", { VCPU: 1 }, { memberOf: [["aggA"]] })]),
    count: 0,
  },
  {
    name: "in_tree bounds the unnamed group to one tree, no sharing",
    snapshot: numaAgg,
    query: q([g("", { VCPU: 1, DISK_GB: 10 }, { inTree: "numa2_1" })]),
    count: 0,
  },
  {
    name: "in_tree on the unnamed group",
    snapshot: numaAgg,
    query: q([g("", { VCPU: 1 }, { inTree: "numa2_1" })]),
    allocations: ["numa2_1:VCPU=1", "numa2_2:VCPU=1"],
  },
  {
    name: "numa network: min_unit and step_size per provider",
    snapshot: numaNet,
    query: q([g("", { VCPU: 1, MEMORY_MB: 512 })]),
    allocations: [
      "numa0:MEMORY_MB=512,VCPU=1",
      "numa0:MEMORY_MB=512 | numa1:VCPU=1",
      "numa0:VCPU=1 | numa1:MEMORY_MB=512",
      "numa1:MEMORY_MB=512,VCPU=1",
    ],
  },
  {
    name: "numa network: same_subtree keeps accelerator under the CPU's NUMA node",
    snapshot: numaNet,
    query: q([g("_COMPUTE", { VCPU: 1 }), g("_ACCEL", { CUSTOM_FPGA: 1 })], {
      groupPolicy: "none",
      sameSubtree: [["_COMPUTE", "_ACCEL"]],
    }),
    mappings: [
      "_ACCEL=fpga0;_COMPUTE=numa0",
      "_ACCEL=fpga1_0;_COMPUTE=numa1",
      "_ACCEL=fpga1_1;_COMPUTE=numa1",
    ],
  },
  {
    name: "numa network: resourceless group inside a same_subtree",
    snapshot: numaNet,
    query: q(
      [
        g("_NUMA", {}, { required: ["HW_NUMA_ROOT", "CUSTOM_FOO"] }),
        g("_ACCEL", { CUSTOM_FPGA: 1 }),
      ],
      { groupPolicy: "none", sameSubtree: [["_NUMA", "_ACCEL"]] },
    ),
    allocations: ["fpga1_0:CUSTOM_FPGA=1", "fpga1_1:CUSTOM_FPGA=1"],
    mappings: ["_ACCEL=fpga1_0;_NUMA=numa1", "_ACCEL=fpga1_1;_NUMA=numa1"],
  },
  {
    name: "numa network: root_required",
    snapshot: numaNet,
    query: q([g("", { VCPU: 1 })], { rootRequired: ["CUSTOM_FOO"] }),
    allocations: ["cn2:VCPU=1"],
  },
  {
    name: "numa network: root_forbidden",
    snapshot: numaNet,
    query: q([g("", { VCPU: 1 })], { rootForbidden: ["CUSTOM_FOO"] }),
    allocations: ["numa0:VCPU=1", "numa1:VCPU=1"],
  },
  {
    name: "numa network: usage counts (numa0 has 2 of 4 VCPU used)",
    snapshot: numaNet,
    query: q([g("", { VCPU: 3 })]),
    allocations: ["cn2:VCPU=3", "numa1:VCPU=3"],
  },
  {
    name: "merged capacity across the unnamed and a named group",
    snapshot: numaNet,
    query: q([g("", { VCPU: 2 }, { inTree: "cn1" }), g("1", { VCPU: 1 }, { inTree: "cn1" })]),
    allocations: ["numa0:VCPU=1 | numa1:VCPU=2", "numa0:VCPU=2 | numa1:VCPU=1", "numa1:VCPU=3"],
  },
  {
    name: "wide tree: 7 of 8 isolated GPUs, limit 1",
    snapshot: wide,
    query: q(gpuGroups(7), { groupPolicy: "isolate", limit: 1 }),
    count: 1,
  },
  {
    name: "wide tree: 6 of 8 isolated GPUs, limit 1",
    snapshot: wide,
    query: q(gpuGroups(6), { groupPolicy: "isolate", limit: 1 }),
    count: 1,
  },
  {
    name: "wide tree: 9 isolated GPUs cannot fit",
    snapshot: wide,
    query: q(gpuGroups(9), { groupPolicy: "isolate" }),
    count: 0,
  },
  {
    name: "wide tree: 2 of 8 isolated GPUs, all ordered pairs",
    snapshot: wide,
    query: q(gpuGroups(2), { groupPolicy: "isolate" }),
    count: 56,
  },
];

describe("findCandidates: Placement fixtures", () => {
  for (const c of cases)
    it(c.name, () => {
      const r = findCandidates(c.snapshot, c.query);
      if (c.allocations) assert.deepEqual(allocs(r), [...c.allocations].sort());
      if (c.mappings) assert.deepEqual(maps(r), [...c.mappings].sort());
      if (c.count !== undefined) assert.equal(r.candidates.length, c.count);
      assert.equal(r.explanation === null, r.candidates.length > 0);
    });
});

describe("findCandidates: summaries, limit, regions, distance, explanations", () => {
  it("summarises every provider of every tree used, trees by root name", () => {
    const r = findCandidates(shared, q([g("", { VCPU: 1, DISK_GB: 100 })], { limit: 1 }));
    assert.deepEqual(allocs(r), ["cn1:VCPU=1 | ss:DISK_GB=100"]);
    assert.deepEqual(
      r.summaries.map((s) => s.name),
      ["cn1", "numa1_1", "pf1_1", "numa1_2", "pf1_2", "ss"],
    );
    const ss = r.summaries.find((s) => s.name === "ss");
    assert.deepEqual(ss?.resources, [{ resourceClass: "DISK_GB", capacity: 1900, used: 0 }]);
    assert.equal(r.summaries.find((s) => s.name === "pf1_1")?.parentUuid, "numa1_1");
  });

  it("reports used capacity in summaries", () => {
    const r = findCandidates(numaNet, q([g("", { VCPU: 1 })], { rootForbidden: ["CUSTOM_FOO"] }));
    const numa0 = r.summaries.find((s) => s.name === "numa0");
    assert.deepEqual(
      numa0?.resources.find((x) => x.resourceClass === "VCPU"),
      {
        resourceClass: "VCPU",
        capacity: 4,
        used: 2,
      },
    );
    assert.deepEqual(numa0?.capabilities, ["HW_NUMA_ROOT"]);
  });

  it("is deterministic and the limit keeps the first candidates", () => {
    const all = findCandidates(shared, q([g("", { VCPU: 1, DISK_GB: 100 })]));
    const two = findCandidates(shared, q([g("", { VCPU: 1, DISK_GB: 100 })], { limit: 2 }));
    assert.deepEqual(two.candidates, all.candidates.slice(0, 2));
  });

  it("filters by region", () => {
    const snap = new Fixture()
      .rp("a", { region: "r1", inv: { VCPU: 4 } })
      .rp("b", { region: "r2", inv: { VCPU: 4 } })
      .snapshot();
    const r = findCandidates(snap, q([g("", { VCPU: 1 })], { regions: new Set(["r2"]) }));
    assert.deepEqual(allocs(r), ["b:VCPU=1"]);
  });

  const racks = new Fixture()
    .group("rackA", "rack")
    .group("rackB", "rack")
    .rp("h1", { groups: ["rackA"], inv: { VCPU: 4 } })
    .rp("h2", { groups: ["rackA"], inv: { VCPU: 4 } })
    .rp("h3", { groups: ["rackB"], inv: { VCPU: 4 } })
    .use("h1", "VCPU", 1, "machineX")
    .snapshot();
  for (const [relation, expected] of [
    ["same", ["h1:VCPU=1", "h2:VCPU=1"]],
    ["different", ["h3:VCPU=1"]],
  ] as const)
    it(`distance: ${relation} rack as a consumer`, () => {
      const r = findCandidates(
        racks,
        q([g("", { VCPU: 1 })], {
          distance: [{ relation, level: "rack", consumers: ["machineX"] }],
        }),
      );
      assert.deepEqual(allocs(r), expected);
    });

  it("distance: same rack as a consumer without allocations finds nothing", () => {
    const r = findCandidates(
      racks,
      q([g("", { VCPU: 1 })], {
        distance: [{ relation: "same", level: "rack", consumers: ["nobody"] }],
      }),
    );
    assert.equal(r.candidates.length, 0);
    assert.equal(r.explanation?.steps.at(-1)?.constraint, "distance");
  });

  const explained: [string, MemorySnapshot, QueryInput, string][] = [
    [
      "not enough free capacity",
      numaNet,
      q([g("", { VCPU: 8 })]),
      "no provider has 8 free VCPU (resources: 9 providers removed)",
    ],
    [
      "named group capability",
      shared,
      q([g("1", { SRIOV_NET_VF: 1 }, { required: ["HW_CPU_X86_SSE"] })]),
      "group 1: none has HW_CPU_X86_SSE (required: 4 providers removed)",
    ],
    [
      "root_required",
      shared,
      q([g("", { VCPU: 1 })], { rootRequired: ["CUSTOM_GOLD"] }),
      "no tree root has the required capabilities (root_required: 2 trees removed)",
    ],
    [
      "a capability no provider of the fleet has, unnamed group",
      shared,
      q([g("", { VCPU: 1 }, { required: ["HW_CPU_X86_SSE", "CUSTOM_NOWHERE"] })]),
      "no provider has CUSTOM_NOWHERE (required: 12 providers removed)",
    ],
    [
      "a capability no provider of the fleet has, named group",
      shared,
      q([g("1", { VCPU: 1 }, { anyOf: [["CUSTOM_NOWHERE", "CUSTOM_NEITHER"]] })]),
      "group 1: no provider has any of CUSTOM_NOWHERE, CUSTOM_NEITHER (any_of: 12 providers removed)",
    ],
    [
      "capabilities that exist, but on no tree that offers the resources",
      shared,
      q([g("", { VCPU: 1 }, { required: ["HW_CPU_X86_SSE", "MISC_SHARES_VIA_AGGREGATE"] })]),
      "no tree's providers have the required capabilities (required: 2 trees removed)",
    ],
  ];
  for (const [name, snap, query, summary] of explained)
    it(`explains: ${name}`, () => {
      const r = findCandidates(snap, query);
      assert.equal(r.candidates.length, 0);
      assert.equal(r.explanation?.summary, summary);
    });

  it("explains a failed combination", () => {
    const r = findCandidates(wide, q(gpuGroups(9), { groupPolicy: "isolate" }));
    assert.match(r.explanation?.summary ?? "", /no combination/);
  });
});

describe("checkQueryShape", () => {
  const table: [string, QueryInput, string[]][] = [
    ["valid", q([g("", { VCPU: 1 })]), []],
    ["no resources anywhere", q([g("1", {})], { sameSubtree: [["1"]] }), ["RESOURCES_REQUIRED"]],
    [
      "resourceless named group outside same_subtree",
      q([g("", { VCPU: 1 }), g("1", {}, { required: ["HW_NUMA_ROOT"] })]),
      ["RESOURCELESS_GROUP_NOT_IN_SUBTREE"],
    ],
    [
      "resourceless unnamed group",
      q([g("", {}, { required: ["HW_NUMA_ROOT"] }), g("1", { VCPU: 1 })]),
      ["RESOURCES_REQUIRED"],
    ],
    [
      "unknown suffix in same_subtree",
      q([g("1", { VCPU: 1 })], { sameSubtree: [["1", "2"]] }),
      ["SUFFIX_UNKNOWN"],
    ],
    [
      "two named groups without group_policy",
      q([g("1", { VCPU: 1 }), g("2", { VCPU: 1 })]),
      ["GROUP_POLICY_REQUIRED"],
    ],
    [
      "required and forbidden",
      q([g("", { VCPU: 1 }, { required: ["A"], forbidden: ["A"] })]),
      ["CAPABILITY_CONFLICT"],
    ],
    [
      "any_of all forbidden",
      q([g("", { VCPU: 1 }, { anyOf: [["A", "B"]], forbidden: ["A", "B"] })]),
      ["CAPABILITY_CONFLICT"],
    ],
    [
      "root conflict",
      q([g("", { VCPU: 1 })], { rootRequired: ["A"], rootForbidden: ["A"] }),
      ["CAPABILITY_CONFLICT"],
    ],
    [
      "duplicate suffix",
      q([g("1", { VCPU: 1 }), g("1", { VCPU: 1 })], { groupPolicy: "none" }),
      ["SUFFIX_DUPLICATE"],
    ],
  ];
  for (const [name, query, reasons] of table)
    it(name, () => {
      assert.deepEqual(
        checkQueryShape(query).map((v) => v.reason),
        reasons,
      );
    });

  it("findCandidates refuses a malformed query with INVALID_ARGUMENT", () => {
    assert.throws(() => findCandidates(shared, q([g("1", { VCPU: 1 }), g("2", { VCPU: 1 })])), {
      code: "INVALID_ARGUMENT",
      reason: "GROUP_POLICY_REQUIRED",
    });
  });
});

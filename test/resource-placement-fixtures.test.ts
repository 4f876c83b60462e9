/**
 * Placement parity, end to end: the provider fixtures of Placement's functional tests
 * (test/placement-fixtures.ts) built over gRPC on SQLite and PostgreSQL, and FindCandidates
 * asked the queries Placement's gabbits ask of them (allocation-candidates.yaml, granular.yaml,
 * granular-same-subtree.yaml, allocation-candidates-root-required.yaml,
 * allocation-candidates-mappings-numa.yaml, allocation-candidates-bug-1792503.yaml,
 * allocation-candidates-member-of.yaml, allocation-candidates-any-traits-groups.yaml), expecting
 * the same candidate sets, mappings, provider summaries and errors. Candidates are compared as
 * multisets of readable strings ("cn1{MEMORY_MB:1024,VCPU:1} ss{DISK_GB:100}"), since Placement
 * defines no order. Provider summaries follow microversion 1.29+: whole trees.
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import {
  type FindCandidatesResponse,
  GroupPolicy,
  ResourceService,
} from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { expectGrpcError, forEachStore, type TestServer } from "./harness.js";
import {
  allocationFixture,
  type Fixture,
  granular,
  nonSharedStorage,
  numaAggregate,
  numaNetwork,
  qosMultiSegment,
  sharedStorage,
  wideTree,
} from "./placement-fixtures.js";

/** One request group with local provider and group names. */
interface G {
  suffix?: string;
  res?: Record<string, number>;
  required?: string[];
  forbidden?: string[];
  anyOf?: string[][];
  memberOf?: string[][];
  forbiddenGroups?: string[];
  inTree?: string;
}

interface Q {
  policy?: "none" | "isolate";
  sameSubtree?: string[][];
  rootRequired?: string[];
  rootForbidden?: string[];
  limit?: number;
}

/** A FindCandidates answer, readable by local names. */
interface Found {
  /** Per candidate: its allocations, providers by name, classes by name. */
  allocs: string[];
  /** Per candidate: allocations, then " | " and the mappings ("*" = unnamed group). */
  mapped: string[];
  /** Local names of the summarised providers, sorted. */
  summarized: string[];
  raw: FindCandidatesResponse;
}

const sorted = (list: readonly string[]) => [...list].sort();

function view(fx: Fixture, raw: FindCandidatesResponse): Found {
  const allocs = raw.candidates.map((c) =>
    c.allocations
      .map((a) => {
        const cls = Object.keys(a.resources)
          .sort()
          .map((k) => `${k}:${a.resources[k]}`);
        return `${fx.local(a.providerUuid)}{${cls.join(",")}}`;
      })
      .sort()
      .join(" "),
  );
  const mapped = raw.candidates.map((c, i) => {
    const maps = c.mappings
      .map((m) => `${m.suffix || "*"}=${m.providerUuids.map(fx.local).sort().join(",")}`)
      .sort();
    return `${allocs[i]} | ${maps.join(" ")}`;
  });
  return {
    allocs,
    mapped,
    summarized: sorted(raw.providerSummaries.map((s) => fx.local(s.providerUuid))),
    raw,
  };
}

/** A candidate string with its provider parts in one order, so expectations may list any. */
function norm(candidate: string): string {
  const [allocs = "", maps] = candidate.split(" | ");
  const parts = sorted(allocs.split(" ")).join(" ");
  return maps === undefined ? parts : `${parts} | ${maps}`;
}

/** Asserts the candidate multiset (order-insensitive, within and across candidates). */
function same(actual: readonly string[], expected: readonly string[], msg?: string) {
  assert.deepEqual(sorted(actual.map(norm)), sorted(expected.map(norm)), msg);
}

/** One provider's summary: class → [capacity, used], capabilities, parent and root names. */
function summaryOf(fx: Fixture, f: Found, local: string) {
  const s = f.raw.providerSummaries.find((p) => p.providerUuid === fx.uuid(local));
  assert.ok(s, `no summary for ${local}`);
  return {
    resources: Object.fromEntries(
      s.resources.map((r) => [r.resourceClass, [Number(r.capacity), Number(r.used)]]),
    ),
    capabilities: sorted(s.capabilities),
    parent: s.parentUuid ? fx.local(s.parentUuid) : "",
    root: fx.local(s.rootUuid),
  };
}

forEachStore("Placement fixtures through FindCandidates", (server: () => TestServer) => {
  const res = () => server().client(ResourceService);
  const fx: Record<string, Fixture> = {};

  before(async () => {
    const r = res();
    const m = server().meta();
    fx.shared = await sharedStorage(r, m);
    fx.granular = await granular(r, m);
    fx.numanet = await numaNetwork(r, m);
    fx.numaagg = await numaAggregate(r, m);
    fx.nonshared = await nonSharedStorage(r, m);
    fx.alloc = await allocationFixture(r, m);
    fx.qos = await qosMultiSegment(r, m);
    fx.wide = await wideTree(r, m);
  });

  function request(f: Fixture, groups: G[], q: Q = {}) {
    return {
      query: {
        region: f.region,
        groups: groups.map((g) => ({
          suffix: g.suffix ?? "",
          resources: Object.fromEntries(
            Object.entries(g.res ?? {}).map(([k, n]) => [k, BigInt(n)]),
          ),
          required: g.required ?? [],
          forbidden: g.forbidden ?? [],
          anyOf: (g.anyOf ?? []).map((names) => ({ names })),
          memberOf: (g.memberOf ?? []).map((set) => ({ groups: set.map(f.group) })),
          forbiddenGroups: (g.forbiddenGroups ?? []).map(f.group),
          inTree: g.inTree ? f.uuid(g.inTree) : "",
        })),
        groupPolicy:
          q.policy === "none"
            ? GroupPolicy.NONE
            : q.policy === "isolate"
              ? GroupPolicy.ISOLATE
              : GroupPolicy.UNSPECIFIED,
        sameSubtree: (q.sameSubtree ?? []).map((suffixes) => ({ suffixes })),
        rootRequired: q.rootRequired ?? [],
        rootForbidden: q.rootForbidden ?? [],
        limit: q.limit ?? 0,
      },
    };
  }

  async function find(key: string, groups: G[], q: Q = {}): Promise<Found> {
    const f = fx[key] ?? assert.fail(`no fixture ${key}`);
    const found = view(f, await res().findCandidates(request(f, groups, q)));
    if (found.allocs.length === 0) assert.ok(found.raw.explanation?.summary, "no explanation");
    else assert.equal(found.raw.explanation, undefined);
    return found;
  }

  async function rejects(key: string, groups: G[], q: Q, reason: string, field?: string) {
    const f = fx[key] ?? assert.fail(`no fixture ${key}`);
    await expectGrpcError(
      res().findCandidates(request(f, groups, q)),
      Code.InvalidArgument,
      reason,
      field,
    );
  }

  describe("SharedStorageFixture (allocation-candidates.yaml)", () => {
    const compute = { VCPU: 1, MEMORY_MB: 1024, DISK_GB: 100 };
    const cn = "{MEMORY_MB:1024,VCPU:1}";

    test("local disk and both sharing providers; whole trees summarised", async () => {
      const f = await find("shared", [{ res: compute }]);
      same(f.allocs, [
        `cn1${cn} ss{DISK_GB:100}`,
        `cn1${cn} ss2{DISK_GB:100}`,
        "cn2{DISK_GB:100,MEMORY_MB:1024,VCPU:1}",
        `cn2${cn} ss{DISK_GB:100}`,
        `cn2${cn} ss2{DISK_GB:100}`,
      ]);
      same(f.summarized, [
        ...["cn1", "numa1_1", "numa1_2", "pf1_1", "pf1_2"],
        ...["cn2", "numa2_1", "numa2_2", "pf2_1", "pf2_2"],
        ...["ss", "ss2"],
      ]);
      const s = fx.shared as Fixture;
      assert.deepEqual(summaryOf(s, f, "cn1").resources, {
        VCPU: [384, 0],
        MEMORY_MB: [196608, 0],
      });
      assert.deepEqual(summaryOf(s, f, "cn2").resources.DISK_GB, [1900, 0]);
      assert.deepEqual(summaryOf(s, f, "ss").resources, { DISK_GB: [1900, 0] });
      assert.deepEqual(summaryOf(s, f, "pf1_1"), {
        resources: { SRIOV_NET_VF: [8, 0] },
        capabilities: [],
        parent: "numa1_1",
        root: "cn1",
      });
      assert.equal(summaryOf(s, f, "cn1").parent, "");
    });

    test("limit", async () => {
      assert.equal((await find("shared", [{ res: compute }], { limit: 1 })).allocs.length, 1);
      assert.equal((await find("shared", [{ res: compute }], { limit: 10 })).allocs.length, 5);
    });

    test("required, forbidden and unmatched capabilities", async () => {
      const req = await find("shared", [{ res: compute, required: ["HW_CPU_X86_SSE"] }]);
      same(req.allocs, [`cn1${cn} ss{DISK_GB:100}`, `cn1${cn} ss2{DISK_GB:100}`]);
      assert.deepEqual(summaryOf(fx.shared as Fixture, req, "cn1").capabilities, [
        "HW_CPU_X86_SSE",
        "HW_CPU_X86_SSE2",
      ]);
      const both = await find("shared", [
        { res: compute, required: ["HW_CPU_X86_SSE", "HW_CPU_X86_SSE2"] },
      ]);
      same(both.allocs, req.allocs);
      const forbidden = await find("shared", [{ res: compute, forbidden: ["HW_CPU_X86_SSE"] }]);
      same(forbidden.allocs, [
        "cn2{DISK_GB:100,MEMORY_MB:1024,VCPU:1}",
        `cn2${cn} ss{DISK_GB:100}`,
        `cn2${cn} ss2{DISK_GB:100}`,
      ]);
      const none = await find("shared", [{ res: compute, required: ["HW_CPU_X86_SSE3"] }]);
      assert.deepEqual([none.allocs, none.summarized], [[], []]);
    });

    test("VCPU alone: two roots, ten summaries", async () => {
      const f = await find("shared", [{ res: { VCPU: 1 } }]);
      same(f.allocs, ["cn1{VCPU:1}", "cn2{VCPU:1}"]);
      assert.equal(f.summarized.length, 10);
    });

    test("nested providers alone and combined with their root", async () => {
      const vf = await find("shared", [{ res: { SRIOV_NET_VF: 4 } }]);
      same(
        vf.allocs,
        ["pf1_1", "pf1_2", "pf2_1", "pf2_2"].map((p) => `${p}{SRIOV_NET_VF:4}`),
      );
      assert.equal(vf.summarized.length, 10);
      const mixed = await find("shared", [{ res: { VCPU: 1, SRIOV_NET_VF: 4 } }]);
      same(mixed.allocs, [
        "cn1{VCPU:1} pf1_1{SRIOV_NET_VF:4}",
        "cn1{VCPU:1} pf1_2{SRIOV_NET_VF:4}",
        "cn2{VCPU:1} pf2_1{SRIOV_NET_VF:4}",
        "cn2{VCPU:1} pf2_2{SRIOV_NET_VF:4}",
      ]);
    });

    test("bad requests: unknown class or capability, no resources", async () => {
      await rejects("shared", [{ res: { MCPU: 99 } }], {}, "RESOURCE_CLASS_UNKNOWN");
      await rejects(
        "shared",
        [{ res: compute, required: ["INVALID_TRAIT"] }],
        {},
        "CAPABILITY_UNKNOWN",
        "query.groups[0].required[0]",
      );
      await rejects("shared", [], {}, "RESOURCES_REQUIRED", "query.groups");
    });
  });

  describe("GranularFixture (granular.yaml)", () => {
    const vm = { VCPU: 1, MEMORY_MB: 1024 };
    const cnVm = (cn: string) => `${cn}{MEMORY_MB:1024,VCPU:1}`;

    test("separate groups merge on one provider with policy none, never with isolate", async () => {
      const groups: G[] = [
        { suffix: "1", res: { VCPU: 1 } },
        { suffix: "2", res: { MEMORY_MB: 1024 } },
      ];
      const none = await find("granular", groups, { policy: "none" });
      same(none.allocs, ["cn_left", "cn_middle", "cn_right"].map(cnVm));
      same(none.summarized, ["cn_left", "cn_middle", "cn_right"]);
      assert.deepEqual(
        summaryOf(fx.granular as Fixture, none, "cn_middle").resources.MEMORY_MB,
        [4096, 0],
      );
      same(
        none.mapped,
        ["cn_left", "cn_middle", "cn_right"].map((c) => `${cnVm(c)} | 1=${c} 2=${c}`),
      );
      const isolated = await find("granular", groups, { policy: "isolate" });
      assert.deepEqual([isolated.allocs, isolated.summarized], [[], []]);
    });

    test("unnamed and named groups combine their amounts", async () => {
      const f = await find(
        "granular",
        [
          { res: { VCPU: 3, MEMORY_MB: 512 } },
          { suffix: "1", res: { VCPU: 1, MEMORY_MB: 1024 } },
          { suffix: "2", res: { VCPU: 2 } },
        ],
        { policy: "none" },
      );
      same(
        f.allocs,
        ["cn_left", "cn_middle", "cn_right"].map((c) => `${c}{MEMORY_MB:1536,VCPU:6}`),
      );
      const one = await find("granular", [
        { res: { VCPU: 1 } },
        { suffix: "1", res: { MEMORY_MB: 2048 } },
      ]);
      assert.equal(one.allocs.length, 3, "no group_policy needed with one named group");
    });

    test("disk from sharing providers: isolate vs none", async () => {
      const groups: G[] = [
        { suffix: "1", res: vm },
        { suffix: "2", res: { DISK_GB: 100 } },
      ];
      const shared = [
        `${cnVm("cn_left")} shr_disk_1{DISK_GB:100}`,
        `${cnVm("cn_left")} shr_disk_2{DISK_GB:100}`,
        `${cnVm("cn_middle")} shr_disk_1{DISK_GB:100}`,
        `${cnVm("cn_middle")} shr_disk_2{DISK_GB:100}`,
        `${cnVm("cn_right")} shr_disk_2{DISK_GB:100}`,
      ];
      const isolated = await find("granular", groups, { policy: "isolate" });
      same(isolated.allocs, shared);
      assert.equal(isolated.summarized.length, 5);
      const none = await find("granular", groups, { policy: "none" });
      same(none.allocs, [
        ...shared,
        "cn_left{DISK_GB:100,MEMORY_MB:1024,VCPU:1}",
        "cn_right{DISK_GB:100,MEMORY_MB:1024,VCPU:1}",
      ]);
      assert.equal(none.summarized.length, 5);
    });

    test("disk alone comes only from the sharing providers, named or not", async () => {
      const expected = ["shr_disk_1{DISK_GB:800}", "shr_disk_2{DISK_GB:800}"];
      same((await find("granular", [{ suffix: "1", res: { DISK_GB: 800 } }])).allocs, expected);
      const unnamed = await find("granular", [{ res: { DISK_GB: 800 } }]);
      same(unnamed.allocs, expected);
      same(unnamed.summarized, ["shr_disk_1", "shr_disk_2"]);
    });

    test("required and forbidden capabilities per group", async () => {
      const ssd = await find(
        "granular",
        [
          { suffix: "1", res: vm },
          { suffix: "2", res: { DISK_GB: 100 }, required: ["CUSTOM_DISK_SSD"] },
        ],
        { policy: "isolate" },
      );
      same(ssd.allocs, [
        `${cnVm("cn_left")} shr_disk_1{DISK_GB:100}`,
        `${cnVm("cn_middle")} shr_disk_1{DISK_GB:100}`,
      ]);
      same(ssd.summarized, ["cn_left", "cn_middle", "shr_disk_1"]);
      assert.deepEqual(summaryOf(fx.granular as Fixture, ssd, "shr_disk_1").resources, {
        DISK_GB: [1000, 0],
      });
      const noSsd = await find(
        "granular",
        [
          { suffix: "1", res: { VCPU: 1 } },
          { suffix: "2", res: { DISK_GB: 100 }, forbidden: ["CUSTOM_DISK_SSD"] },
        ],
        { policy: "none" },
      );
      same(noSsd.allocs, [
        "cn_left{DISK_GB:100,VCPU:1}",
        "cn_left{VCPU:1} shr_disk_2{DISK_GB:100}",
        "cn_middle{VCPU:1} shr_disk_2{DISK_GB:100}",
        "cn_right{VCPU:1} shr_disk_2{DISK_GB:100}",
      ]);
    });

    test("member_of per group, with any-of lists and AND across lists", async () => {
      const c = await find(
        "granular",
        [
          { suffix: "1", res: { VCPU: 1 } },
          { suffix: "2", res: { DISK_GB: 100 }, memberOf: [["aggC"]] },
        ],
        { policy: "none" },
      );
      same(c.allocs, ["cn_right{DISK_GB:100,VCPU:1}"]);
      same(c.summarized, ["cn_right"]);
      const mixed = await find(
        "granular",
        [
          { suffix: "1", res: { VCPU: 1 }, forbidden: ["HW_CPU_X86_SSE"] },
          {
            suffix: "2",
            res: { DISK_GB: 100 },
            required: ["CUSTOM_DISK_SSD"],
            memberOf: [["aggA", "aggC"]],
          },
        ],
        { policy: "none" },
      );
      same(mixed.allocs, [
        "cn_left{VCPU:1} shr_disk_1{DISK_GB:100}",
        "cn_right{DISK_GB:100,VCPU:1}",
      ]);
      same(mixed.summarized, ["cn_left", "cn_right", "shr_disk_1"]);
      const and = await find(
        "granular",
        [
          { suffix: "1", res: { VCPU: 1 } },
          { suffix: "2", res: { DISK_GB: 100 }, memberOf: [["aggA"], ["aggB", "aggC"]] },
        ],
        { policy: "isolate" },
      );
      same(
        and.allocs,
        ["cn_left", "cn_middle", "cn_right"].map((cn) => `${cn}{VCPU:1} shr_disk_2{DISK_GB:100}`),
      );
    });

    test("many groups over disks and networks", async () => {
      const f = await find(
        "granular",
        [
          { suffix: "1", res: { VCPU: 1 } },
          { suffix: "2", res: { VGPU: 1 }, required: ["HW_GPU_API_DXVA"] },
          { suffix: "3", res: { MEMORY_MB: 1024 } },
          { suffix: "4", res: { DISK_GB: 100 }, required: ["CUSTOM_DISK_SSD"] },
          { suffix: "5", res: { DISK_GB: 50 }, forbidden: ["CUSTOM_DISK_SSD"] },
          { suffix: "6", res: { SRIOV_NET_VF: 1, CUSTOM_NET_MBPS: 1000 } },
          { suffix: "7", res: { SRIOV_NET_VF: 2, CUSTOM_NET_MBPS: 2000 } },
        ],
        { policy: "none" },
      );
      const left = "CUSTOM_NET_MBPS:3000";
      same(f.allocs, [
        `cn_left{${left},DISK_GB:50,MEMORY_MB:1024,SRIOV_NET_VF:3,VCPU:1,VGPU:1} shr_disk_1{DISK_GB:100}`,
        `cn_left{${left},MEMORY_MB:1024,SRIOV_NET_VF:3,VCPU:1,VGPU:1} shr_disk_1{DISK_GB:100} shr_disk_2{DISK_GB:50}`,
        "cn_right{DISK_GB:100,MEMORY_MB:1024,VCPU:1,VGPU:1} shr_disk_2{DISK_GB:50} shr_net{CUSTOM_NET_MBPS:3000,SRIOV_NET_VF:3}",
      ]);
      same(f.summarized, ["cn_left", "cn_right", "shr_disk_1", "shr_disk_2", "shr_net"]);
    });

    test("merged amounts are checked against capacity and max_unit", async () => {
      const capacity = await find("granular", [
        { res: { VCPU: 2, MEMORY_MB: 2048, SRIOV_NET_VF: 1, CUSTOM_NET_MBPS: 2000 } },
        { suffix: "1", res: { SRIOV_NET_VF: 1, CUSTOM_NET_MBPS: 3000 } },
      ]);
      same(capacity.allocs, [
        "cn_right{MEMORY_MB:2048,VCPU:2} shr_net{CUSTOM_NET_MBPS:5000,SRIOV_NET_VF:2}",
      ]);
      same(capacity.summarized, ["cn_right", "shr_net"]);
      const maxUnit = await find(
        "granular",
        [
          { res: { VGPU: 1 } },
          { suffix: "1", res: { VGPU: 1 } },
          { suffix: "2", res: { VGPU: 1 } },
        ],
        { policy: "none" },
      );
      same(maxUnit.allocs, ["cn_left{VGPU:3}"]);
    });

    test("bad requests: group_policy required, no resources", async () => {
      await rejects(
        "granular",
        [
          { suffix: "1", res: { VCPU: 1 } },
          { suffix: "2", res: { VCPU: 1 } },
        ],
        {},
        "GROUP_POLICY_REQUIRED",
        "query.group_policy",
      );
      await rejects("granular", [], { policy: "isolate" }, "RESOURCES_REQUIRED");
      await rejects("granular", [{ suffix: "1a!", res: { VCPU: 1 } }], {}, "SUFFIX_INVALID");
    });
  });

  describe("NUMANetworkFixture (granular-same-subtree.yaml)", () => {
    const ft = (p: string) => `${p}{CUSTOM_FPGA:1}`;

    test("resourceless groups must be in a same_subtree; the unnamed group never", async () => {
      await rejects(
        "numanet",
        [
          { suffix: "1", res: { VCPU: 1 } },
          { suffix: "2", required: ["COMPUTE_VOLUME_MULTI_ATTACH"] },
        ],
        { policy: "none" },
        "RESOURCELESS_GROUP_NOT_IN_SUBTREE",
        "query.groups[1].resources",
      );
      await rejects(
        "numanet",
        [
          { suffix: "1", res: { VCPU: 1 } },
          { suffix: "2", memberOf: [["aggA"]] },
        ],
        { policy: "none" },
        "RESOURCELESS_GROUP_NOT_IN_SUBTREE",
      );
      await rejects(
        "numanet",
        [{ suffix: "1", memberOf: [["aggA"]] }],
        { policy: "none", sameSubtree: [["1"]] },
        "RESOURCES_REQUIRED",
      );
      await rejects(
        "numanet",
        [
          { suffix: "COMPUTE", res: { VCPU: 1 } },
          { suffix: "ACCEL", res: { CUSTOM_FPGA: 1 } },
        ],
        { policy: "none", sameSubtree: [["COMPUTE", "", "ACCEL"]] },
        "SUFFIX_UNKNOWN",
      );
    });

    test("same_subtree ties compute and accelerator to one NUMA node", async () => {
      const groups: G[] = [
        { suffix: "COMPUTE", res: { VCPU: 1 } },
        { suffix: "ACCEL", res: { CUSTOM_FPGA: 1 } },
      ];
      const loose = await find("numanet", groups, { policy: "none" });
      const all = ["numa0", "numa1"].flatMap((n) =>
        ["fpga0", "fpga1_0", "fpga1_1"].map((a) => `${ft(a)} ${n}{VCPU:1}`),
      );
      same(loose.allocs, all);
      const single = await find("numanet", groups, { policy: "none", sameSubtree: [["COMPUTE"]] });
      same(single.allocs, all);
      const tied = await find("numanet", groups, {
        policy: "none",
        sameSubtree: [["COMPUTE", "ACCEL"]],
      });
      same(tied.allocs, [
        `${ft("fpga0")} numa0{VCPU:1}`,
        `${ft("fpga1_0")} numa1{VCPU:1}`,
        `${ft("fpga1_1")} numa1{VCPU:1}`,
      ]);
      const self: G[] = [
        { suffix: "COMPUTE1", res: { VCPU: 1 } },
        { suffix: "COMPUTE2", res: { MEMORY_MB: 1024 } },
      ];
      const q = { sameSubtree: [["COMPUTE1", "COMPUTE2"]] };
      const mine = await find("numanet", self, { ...q, policy: "none" });
      same(
        mine.allocs,
        ["cn2", "numa0", "numa1"].map((p) => `${p}{MEMORY_MB:1024,VCPU:1}`),
      );
      assert.deepEqual((await find("numanet", self, { ...q, policy: "isolate" })).allocs, []);
    });

    test("resourceless NIC group picks the NIC whose PFs serve both ports", async () => {
      const ports = (vf1: number, vf2: number): G[] => [
        { res: { VCPU: 1 } },
        { suffix: "NIC", required: ["CUSTOM_HW_NIC_ROOT"] },
        { suffix: "PORT1", res: { CUSTOM_VF: vf1 }, required: ["CUSTOM_PHYSNET1"] },
        { suffix: "PORT2", res: { CUSTOM_VF: vf2 }, required: ["CUSTOM_PHYSNET2"] },
      ];
      const q: Q = { policy: "none", sameSubtree: [["NIC", "PORT1", "PORT2"]] };
      const wide = await find("numanet", ports(4, 4), q);
      same(wide.mapped, [
        "cn2{VCPU:1} pf1_1{CUSTOM_VF:4} pf1_2{CUSTOM_VF:4} | *=cn2 NIC=nic1 PORT1=pf1_1 PORT2=pf1_2",
      ]);
      const nic2 = ["pf2_1", "pf2_3"].flatMap((a) =>
        ["pf2_2", "pf2_4"].map((b) => `cn2{VCPU:1} ${a}{CUSTOM_VF:2} ${b}{CUSTOM_VF:2}`),
      );
      const narrow = [...nic2, "cn2{VCPU:1} pf1_1{CUSTOM_VF:2} pf1_2{CUSTOM_VF:2}"];
      same((await find("numanet", ports(2, 2), q)).allocs, narrow);
      same((await find("numanet", ports(2, 2), { ...q, policy: "isolate" })).allocs, narrow);
      const without = await find("numanet", [ports(4, 4)[0] as G, ...ports(4, 4).slice(2)], {
        policy: "none",
      });
      same(without.allocs, [
        "cn2{VCPU:1} pf1_1{CUSTOM_VF:4} pf1_2{CUSTOM_VF:4}",
        "cn2{VCPU:1} pf1_2{CUSTOM_VF:4} pf3_1{CUSTOM_VF:4}",
      ]);
    });

    test("2+1+1 VFs: isolate keeps the two PHYSNET2 ports apart", async () => {
      const groups: G[] = [
        { res: { VCPU: 1 } },
        { suffix: "NIC", required: ["CUSTOM_HW_NIC_ROOT"] },
        { suffix: "PORT1", res: { CUSTOM_VF: 2 }, required: ["CUSTOM_PHYSNET1"] },
        { suffix: "PORT2A", res: { CUSTOM_VF: 1 }, required: ["CUSTOM_PHYSNET2"] },
        { suffix: "PORT2B", res: { CUSTOM_VF: 1 }, required: ["CUSTOM_PHYSNET2"] },
      ];
      const sameSubtree = [["NIC", "PORT1", "PORT2A", "PORT2B"]];
      const none = await find("numanet", groups, { policy: "none", sameSubtree });
      assert.equal(none.allocs.length, 9);
      const isolated = await find("numanet", groups, { policy: "isolate", sameSubtree });
      same(
        isolated.mapped,
        ["pf2_1", "pf2_3"].flatMap((p1) =>
          [
            ["pf2_2", "pf2_4"],
            ["pf2_4", "pf2_2"],
          ].map(
            ([a, b]) =>
              `cn2{VCPU:1} ${p1}{CUSTOM_VF:2} pf2_2{CUSTOM_VF:1} pf2_4{CUSTOM_VF:1} | ` +
              `*=cn2 NIC=nic2 PORT1=${p1} PORT2A=${a} PORT2B=${b}`,
          ),
        ),
      );
    });

    test("resourceless groups may share the provider of a resourceful one", async () => {
      const port: G[] = [
        { suffix: "PORT1", res: { CUSTOM_VF: 8 } },
        { suffix: "PORT2", required: ["CUSTOM_PHYSNET1"] },
      ];
      const q: Q = { policy: "none", sameSubtree: [["PORT1", "PORT2"]] };
      same((await find("numanet", port, q)).mapped, [
        "pf3_1{CUSTOM_VF:8} | PORT1=pf3_1 PORT2=pf3_1",
      ]);
      assert.deepEqual((await find("numanet", port, { ...q, policy: "isolate" })).allocs, []);
      const three: G[] = [
        { suffix: "COMPUTE1", res: { VCPU: 1 } },
        { suffix: "COMPUTE2", required: ["CUSTOM_FOO"] },
        { suffix: "COMPUTE3", required: ["HW_NUMA_ROOT"] },
      ];
      const t = { sameSubtree: [["COMPUTE1", "COMPUTE2", "COMPUTE3"]] };
      same((await find("numanet", three, { ...t, policy: "none" })).mapped, [
        "numa1{VCPU:1} | COMPUTE1=numa1 COMPUTE2=numa1 COMPUTE3=numa1",
      ]);
      assert.deepEqual((await find("numanet", three, { ...t, policy: "isolate" })).allocs, []);
    });

    test("two FPGAs under one NUMA root; forbidden capability on the root group", async () => {
      const groups = (forbidden: string[]): G[] => [
        { suffix: "NUMA", required: ["HW_NUMA_ROOT"], forbidden },
        { suffix: "ACCEL1", res: { CUSTOM_FPGA: 1 } },
        { suffix: "ACCEL2", res: { CUSTOM_FPGA: 1 } },
      ];
      const q: Q = { policy: "isolate", sameSubtree: [["NUMA", "ACCEL1", "ACCEL2"]] };
      const both = `${ft("fpga1_0")} ${ft("fpga1_1")}`;
      same((await find("numanet", groups([]), q)).mapped, [
        `${both} | ACCEL1=fpga1_0 ACCEL2=fpga1_1 NUMA=numa1`,
        `${both} | ACCEL1=fpga1_1 ACCEL2=fpga1_0 NUMA=numa1`,
      ]);
      assert.deepEqual((await find("numanet", groups(["CUSTOM_FOO"]), q)).allocs, []);
    });

    test("two same_subtree sets at once", async () => {
      const f = await find(
        "numanet",
        [
          { suffix: "NUMA", required: ["HW_NUMA_ROOT"] },
          { suffix: "COMPUTE", res: { VCPU: 2, MEMORY_MB: 512 } },
          { suffix: "FPGA", res: { CUSTOM_FPGA: 1 } },
          { suffix: "GPU", res: { VGPU: 1 } },
          { suffix: "SRIOV", required: ["CUSTOM_VNIC_TYPE_DIRECT"] },
          {
            suffix: "NET1",
            res: { NET_BW_EGR_KILOBIT_PER_SEC: 100 },
            required: ["CUSTOM_PHYSNET1"],
          },
          {
            suffix: "NET2",
            res: { NET_BW_EGR_KILOBIT_PER_SEC: 100 },
            required: ["CUSTOM_PHYSNET2"],
          },
        ],
        {
          policy: "none",
          sameSubtree: [
            ["NUMA", "COMPUTE", "GPU", "FPGA"],
            ["SRIOV", "NET1", "NET2"],
          ],
        },
      );
      same(f.mapped, [
        "esn1{NET_BW_EGR_KILOBIT_PER_SEC:100} esn2{NET_BW_EGR_KILOBIT_PER_SEC:100} " +
          "fpga0{CUSTOM_FPGA:1} numa0{MEMORY_MB:512,VCPU:2} pgpu0{VGPU:1} | " +
          "COMPUTE=numa0 FPGA=fpga0 GPU=pgpu0 NET1=esn1 NET2=esn2 NUMA=numa0 SRIOV=sriov_agent",
      ]);
    });
  });

  describe("NUMANetworkFixture (allocation-candidates-root-required.yaml)", () => {
    const vm = { VCPU: 1, MEMORY_MB: 1024, DISK_GB: 100 };
    const cn1Combos = [
      "numa0{MEMORY_MB:1024,VCPU:1}",
      "numa1{MEMORY_MB:1024,VCPU:1}",
      "numa0{VCPU:1} numa1{MEMORY_MB:1024}",
      "numa0{MEMORY_MB:1024} numa1{VCPU:1}",
    ];

    test("root_required looks at anchor roots only", async () => {
      for (const cap of ["HW_NUMA_ROOT", "MISC_SHARES_VIA_AGGREGATE", "HW_CPU_X86_AVX2"])
        assert.deepEqual(
          (await find("numanet", [{ res: vm }], { rootRequired: [cap] })).allocs,
          [],
          cap,
        );
      const multi = await find("numanet", [{ res: { VCPU: 1, MEMORY_MB: 1024 } }], {
        rootRequired: ["COMPUTE_VOLUME_MULTI_ATTACH"],
      });
      same(multi.allocs, cn1Combos);
      const split: G[] = [
        { suffix: "1", res: { VCPU: 1 } },
        { suffix: "2", res: { MEMORY_MB: 1024 } },
      ];
      const rootReq = { rootRequired: ["COMPUTE_VOLUME_MULTI_ATTACH"] };
      const none = await find("numanet", split, { ...rootReq, policy: "none" });
      same(none.allocs, cn1Combos);
      const n = fx.numanet as Fixture;
      assert.deepEqual(summaryOf(n, none, "numa0").resources.VCPU, [4, 2]);
      assert.deepEqual(summaryOf(n, none, "numa1").resources.MEMORY_MB, [2048, 0]);
      same(
        (await find("numanet", split, { ...rootReq, policy: "isolate" })).allocs,
        cn1Combos.slice(2),
      );
      const sharing = await find("numanet", [{ res: vm }], rootReq);
      same(
        sharing.allocs,
        cn1Combos.map((c) => `${c} ss1{DISK_GB:100}`),
      );
      assert.deepEqual(summaryOf(n, sharing, "numa1").capabilities, ["CUSTOM_FOO", "HW_NUMA_ROOT"]);
    });

    test("required in the unnamed group follows the resources; root_required the root", async () => {
      const groups: G[] = [{ res: { VCPU: 1, DISK_GB: 100 }, required: ["CUSTOM_FOO"] }];
      same((await find("numanet", groups)).allocs, [
        "numa1{VCPU:1} ss1{DISK_GB:100}",
        "cn2{DISK_GB:100,VCPU:1}",
        "cn2{VCPU:1} ss1{DISK_GB:100}",
      ]);
      const cn2Only = ["cn2{DISK_GB:100,VCPU:1}", "cn2{VCPU:1} ss1{DISK_GB:100}"];
      same(
        (
          await find("numanet", [{ res: { VCPU: 1, DISK_GB: 100 } }], {
            rootRequired: ["CUSTOM_FOO"],
          })
        ).allocs,
        cn2Only,
      );
      const granularFoo = await find(
        "numanet",
        [
          { suffix: "1", res: { VCPU: 1 }, required: ["CUSTOM_FOO"] },
          { suffix: "2", res: { DISK_GB: 100 } },
        ],
        { policy: "none" },
      );
      same(granularFoo.allocs, [
        "numa1{VCPU:1} ss1{DISK_GB:100}",
        "cn2{DISK_GB:100,VCPU:1}",
        "cn2{VCPU:1} ss1{DISK_GB:100}",
      ]);
    });

    test("root_forbidden, alone and with root_required", async () => {
      same(
        (await find("numanet", [{ res: { VCPU: 3 } }], { rootForbidden: ["HW_NUMA_ROOT"] })).allocs,
        ["numa1{VCPU:3}", "cn2{VCPU:3}"],
      );
      same(
        (await find("numanet", [{ res: vm }], { rootForbidden: ["MISC_SHARES_VIA_AGGREGATE"] }))
          .allocs,
        [
          ...cn1Combos.map((c) => `${c} ss1{DISK_GB:100}`),
          "cn2{DISK_GB:100,MEMORY_MB:1024,VCPU:1}",
          "cn2{MEMORY_MB:1024,VCPU:1} ss1{DISK_GB:100}",
        ],
      );
      const cn2 = [
        "cn2{DISK_GB:100,MEMORY_MB:1024,VCPU:1}",
        "cn2{MEMORY_MB:1024,VCPU:1} ss1{DISK_GB:100}",
      ];
      for (const rootForbidden of [["HW_NUMA_ROOT"], ["COMPUTE_VOLUME_MULTI_ATTACH"]])
        same(
          (await find("numanet", [{ res: vm }], { rootRequired: ["CUSTOM_FOO"], rootForbidden }))
            .allocs,
          cn2,
        );
      assert.deepEqual(
        (
          await find("numanet", [{ res: vm }], {
            rootForbidden: ["CUSTOM_FOO", "COMPUTE_VOLUME_MULTI_ATTACH"],
          })
        ).allocs,
        [],
      );
      same(
        (
          await find("numanet", [{ suffix: "1", res: { VCPU: 1 }, required: ["CUSTOM_FOO"] }], {
            rootForbidden: ["CUSTOM_FOO"],
          })
        ).allocs,
        ["numa1{VCPU:1}"],
      );
      same(
        (
          await find("numanet", [{ suffix: "1", res: { VCPU: 1 }, required: ["CUSTOM_FOO"] }], {
            rootRequired: ["CUSTOM_FOO"],
          })
        ).allocs,
        ["cn2{VCPU:1}"],
      );
      assert.deepEqual(
        (
          await find("numanet", [{ suffix: "1", res: { VCPU: 1 }, forbidden: ["CUSTOM_FOO"] }], {
            rootRequired: ["CUSTOM_FOO"],
          })
        ).allocs,
        [],
      );
    });

    test("bad root_required: conflicting or unknown", async () => {
      await rejects(
        "numanet",
        [{ res: { VCPU: 1 } }],
        { rootRequired: ["HW_CPU_X86_AVX2", "HW_CPU_X86_SSE"], rootForbidden: ["HW_CPU_X86_AVX2"] },
        "CAPABILITY_CONFLICT",
        "query.root_forbidden",
      );
      await rejects(
        "numanet",
        [{ res: { VCPU: 1 } }],
        { rootRequired: ["CUSTOM_NO_EXIST"] },
        "CAPABILITY_UNKNOWN",
        "query.root_required[0]",
      );
    });
  });

  describe("NUMANetworkFixture (allocation-candidates-mappings-numa.yaml)", () => {
    test("mappings of unnamed and isolated groups; summaries of whole trees", async () => {
      const plain = await find("numanet", [{ res: { VCPU: 1 } }]);
      same(
        plain.mapped,
        ["cn2", "numa0", "numa1"].map((p) => `${p}{VCPU:1} | *=${p}`),
      );
      assert.equal(plain.summarized.length, 23);
      const lr = await find(
        "numanet",
        [
          { suffix: "LEFT", res: { VCPU: 1 } },
          { suffix: "RIGHT", res: { VCPU: 1 } },
        ],
        { policy: "isolate" },
      );
      same(lr.mapped, [
        "numa0{VCPU:1} numa1{VCPU:1} | LEFT=numa0 RIGHT=numa1",
        "numa0{VCPU:1} numa1{VCPU:1} | LEFT=numa1 RIGHT=numa0",
      ]);
      assert.equal(lr.summarized.length, 12);
    });

    test("granular network groups beside compute", async () => {
      const nets: G[] = [
        { suffix: "NET1", res: { NET_BW_EGR_KILOBIT_PER_SEC: 10 }, required: ["CUSTOM_PHYSNET1"] },
        { suffix: "NET2", res: { NET_BW_EGR_KILOBIT_PER_SEC: 20 }, required: ["CUSTOM_PHYSNET2"] },
      ];
      const esn = "esn1{NET_BW_EGR_KILOBIT_PER_SEC:10} esn2{NET_BW_EGR_KILOBIT_PER_SEC:20}";
      const unnamed = await find("numanet", [{ res: { VCPU: 1 } }, ...nets], { policy: "isolate" });
      same(
        unnamed.mapped,
        ["numa0", "numa1"].map((n) => `${esn} ${n}{VCPU:1} | *=${n} NET1=esn1 NET2=esn2`),
      );
      assert.equal(unnamed.summarized.length, 12);
      const compute = await find(
        "numanet",
        [{ suffix: "COMPUTE", res: { VCPU: 1, MEMORY_MB: 1024 } }, ...nets],
        { policy: "isolate" },
      );
      same(
        compute.mapped,
        ["numa0", "numa1"].map(
          (n) => `${esn} ${n}{MEMORY_MB:1024,VCPU:1} | COMPUTE=${n} NET1=esn1 NET2=esn2`,
        ),
      );
      const merged = await find(
        "numanet",
        [
          { suffix: "BWA", res: { NET_BW_EGR_KILOBIT_PER_SEC: 10 }, required: ["CUSTOM_PHYSNET1"] },
          { suffix: "BWB", res: { NET_BW_EGR_KILOBIT_PER_SEC: 20 }, required: ["CUSTOM_PHYSNET1"] },
        ],
        { policy: "none" },
      );
      same(merged.mapped, ["esn1{NET_BW_EGR_KILOBIT_PER_SEC:30} | BWA=esn1 BWB=esn1"]);
      assert.equal(merged.summarized.length, 12);
    });
  });

  describe("NUMAAggregateFixture (allocation-candidates-bug-1792503.yaml)", () => {
    const numa = (n: string) => `${n}{VCPU:1}`;
    const all = ["numa1_1", "numa1_2", "numa2_1", "numa2_2"];
    const disk = (ss: string) => `${ss}{DISK_GB:1000}`;

    test("member_of on a root spans its tree; on a child only that child", async () => {
      same((await find("numaagg", [{ res: { VCPU: 1 } }])).allocs, all.map(numa));
      same(
        (await find("numaagg", [{ res: { VCPU: 1 }, memberOf: [["aggA"]] }])).allocs,
        all.map(numa),
      );
      same(
        (await find("numaagg", [{ res: { VCPU: 1 }, memberOf: [["aggB"]] }])).allocs,
        ["numa2_1", "numa2_2"].map(numa),
      );
      same((await find("numaagg", [{ res: { VCPU: 1 }, memberOf: [["aggC"]] }])).allocs, [
        numa("numa1_1"),
      ]);
    });

    test("sharing providers serve whole trees, bounded by member_of", async () => {
      const vm = { VCPU: 1, DISK_GB: 1000 };
      const viaSs1 = all.map((n) => `${numa(n)} ${disk("ss1")}`);
      same((await find("numaagg", [{ res: vm }])).allocs, [
        ...viaSs1,
        `${numa("numa1_1")} ${disk("ss2")}`,
        `${numa("numa1_2")} ${disk("ss2")}`,
      ]);
      same((await find("numaagg", [{ res: vm, memberOf: [["aggA"]] }])).allocs, viaSs1);
      assert.deepEqual((await find("numaagg", [{ res: vm, memberOf: [["aggB"]] }])).allocs, []);
      same((await find("numaagg", [{ res: vm, memberOf: [["aggC"]] }])).allocs, [
        `${numa("numa1_1")} ${disk("ss2")}`,
      ]);
    });

    test("forbidden groups, alone and with member_of", async () => {
      const vm = { VCPU: 1, DISK_GB: 1000 };
      assert.deepEqual(
        (await find("numaagg", [{ res: vm, forbiddenGroups: ["aggA"] }])).allocs,
        [],
      );
      same((await find("numaagg", [{ res: vm, forbiddenGroups: ["aggB"] }])).allocs, [
        `${numa("numa1_1")} ${disk("ss1")}`,
        `${numa("numa1_2")} ${disk("ss1")}`,
        `${numa("numa1_1")} ${disk("ss2")}`,
        `${numa("numa1_2")} ${disk("ss2")}`,
      ]);
      const notC = ["numa1_2", "numa2_1", "numa2_2"].map((n) => `${numa(n)} ${disk("ss1")}`);
      same((await find("numaagg", [{ res: vm, forbiddenGroups: ["aggC"] }])).allocs, notC);
      same(
        (
          await find("numaagg", [
            { res: vm, memberOf: [["aggA", "aggB"]], forbiddenGroups: ["aggC"] },
          ])
        ).allocs,
        notC,
      );
      same(
        (
          await find("numaagg", [
            { res: vm, memberOf: [["aggA"]], forbiddenGroups: ["aggB", "aggC"] },
          ])
        ).allocs,
        [`${numa("numa1_2")} ${disk("ss1")}`],
      );
    });
  });

  describe("NonSharedStorageFixture (allocation-candidates-member-of.yaml)", () => {
    const vm = { VCPU: 1, MEMORY_MB: 1024, DISK_GB: 100 };
    const full = (cn: string) => `${cn}{DISK_GB:100,MEMORY_MB:1024,VCPU:1}`;
    const one = (cn: string) => `${cn}{VCPU:1}`;

    test("member_of: any-of within a list, all lists must hold", async () => {
      same(
        (await find("nonshared", [{ res: vm, memberOf: [["aggA", "aggB"]] }])).allocs,
        ["cn1", "cn2"].map(full),
      );
      same((await find("nonshared", [{ res: vm, memberOf: [["aggC"]] }])).allocs, [full("cn1")]);
      same((await find("nonshared", [{ res: vm, memberOf: [["aggA"], ["aggB"]] }])).allocs, [
        full("cn2"),
      ]);
      await rejects(
        "nonshared",
        [{ res: vm, memberOf: [["no-such-group"]] }],
        {},
        "GROUP_UNKNOWN",
        "query.groups[0].member_of[0].groups[0]",
      );
    });

    test("forbidden groups (negative member_of)", async () => {
      const v = { VCPU: 1 };
      same((await find("nonshared", [{ res: v, forbiddenGroups: ["aggC"] }])).allocs, [
        one("cn2"),
        one("cn3"),
      ]);
      const notBC = await find("nonshared", [{ res: v, forbiddenGroups: ["aggB", "aggC"] }]);
      same(notBC.allocs, [one("cn3")]);
      same(notBC.summarized, ["cn3"]);
      same(
        (await find("nonshared", [{ res: v, forbiddenGroups: ["aggB"], memberOf: [["aggC"]] }]))
          .allocs,
        [one("cn1")],
      );
      assert.deepEqual(
        (
          await find("nonshared", [
            { res: v, forbiddenGroups: ["aggB", "aggC"], memberOf: [["aggA"]] },
          ])
        ).allocs,
        [],
      );
      same(
        (
          await find("nonshared", [
            { res: v, forbiddenGroups: ["aggB"], memberOf: [["aggB", "aggC"]] },
          ])
        ).allocs,
        [one("cn1")],
      );
      assert.deepEqual(
        (await find("nonshared", [{ res: v, forbiddenGroups: ["aggB"], memberOf: [["aggB"]] }]))
          .allocs,
        [],
      );
    });

    test("in_tree bounds the group to one tree", async () => {
      same((await find("nonshared", [{ res: { VCPU: 1 }, inTree: "cn2" }])).allocs, [one("cn2")]);
      same((await find("nonshared", [{ suffix: "1", res: { VCPU: 1 }, inTree: "cn3" }])).mapped, [
        "cn3{VCPU:1} | 1=cn3",
      ]);
    });
  });

  describe("AllocationFixture", () => {
    test("usage counts against capacity, with min, max and step", async () => {
      const f = await find("alloc", [{ res: { VCPU: 3 } }]);
      same(f.allocs, ["rp{VCPU:3}"]);
      assert.deepEqual(summaryOf(fx.alloc as Fixture, f, "rp").resources, {
        DISK_GB: [2048, 1020],
        VCPU: [10, 7],
      });
      same((await find("alloc", [{ res: { DISK_GB: 1000, VCPU: 3 } }])).allocs, [
        "rp{DISK_GB:1000,VCPU:3}",
      ]);
      for (const resources of <Record<string, number>[]>[
        { VCPU: 4 },
        { DISK_GB: 1010 },
        { DISK_GB: 15 },
        { DISK_GB: 5 },
      ]) {
        const none = await find("alloc", [{ res: resources }]);
        assert.deepEqual(none.allocs, [], JSON.stringify(resources));
        assert.match(
          none.raw.explanation?.summary ?? "",
          /resources/,
          "the explanation names the resources step",
        );
      }
    });
  });

  describe("NeutronQoSMultiSegmentFixture (allocation-candidates-any-traits-groups.yaml)", () => {
    const vm = { res: { VCPU: 1, MEMORY_MB: 1024, DISK_GB: 10 } };
    const host = (c: string) => `${c}{DISK_GB:10,MEMORY_MB:1024,VCPU:1}`;
    const bw = (n: number) => `{NET_BW_EGR_KILOBIT_PER_SEC:${n},NET_BW_IGR_KILOBIT_PER_SEC:${n}}`;
    const pps = (c: string, n: number) => `${c}.ovs{NET_PACKET_RATE_KILOPACKET_PER_SEC:${n}}`;
    const port = (name: string, rate: number, band: number, segments: string[][]): G[] => [
      {
        suffix: `${name}-pps`,
        res: { NET_PACKET_RATE_KILOPACKET_PER_SEC: rate },
        required: ["CUSTOM_VNIC_TYPE_NORMAL"],
      },
      {
        suffix: `${name}-bw`,
        res: { NET_BW_EGR_KILOBIT_PER_SEC: band, NET_BW_IGR_KILOBIT_PER_SEC: band },
        required: ["CUSTOM_VNIC_TYPE_NORMAL"],
        anyOf: segments,
      },
    ];
    const msn = [["CUSTOM_PHYSNET_MSN_S1", "CUSTOM_PHYSNET_MSN_S2"]];
    const subtree = (...names: string[]) => names.map((n) => [`${n}-pps`, `${n}-bw`]);

    test("one port on a plain network, one on the multi-segment network", async () => {
      const plain = await find(
        "qos",
        [vm, ...port("port-normal", 1000, 1000, [["CUSTOM_PHYSNET_OTHER"]])],
        {
          policy: "none",
          sameSubtree: subtree("port-normal"),
        },
      );
      same(plain.allocs, [
        `${host("compute0")} compute0.br-ex${bw(1000)} ${pps("compute0", 1000)}`,
      ]);
      const multi = await find("qos", [vm, ...port("port-msn", 1000, 1000, msn)], {
        policy: "none",
        sameSubtree: subtree("port-msn"),
      });
      same(multi.allocs, [
        `${host("compute1")} compute1.br-ex${bw(1000)} ${pps("compute1", 1000)}`,
        `${host("compute2")} compute2.br-ex${bw(1000)} ${pps("compute2", 1000)}`,
        `${host("compute3")} compute3.br-ex${bw(1000)} ${pps("compute3", 1000)}`,
        `${host("compute3")} compute3.br-ex2${bw(1000)} ${pps("compute3", 1000)}`,
      ]);
    });

    test("two ports: limited bandwidth splits them across segments", async () => {
      const q: Q = { policy: "none", sameSubtree: subtree("port1", "port2") };
      const limited = await find(
        "qos",
        [vm, ...port("port1", 100, 1000, msn), ...port("port2", 100, 1000, msn)],
        q,
      );
      const cross = `${host("compute3")} compute3.br-ex${bw(1000)} compute3.br-ex2${bw(1000)} ${pps("compute3", 200)}`;
      same(limited.allocs, [
        `${host("compute1")} compute1.br-ex${bw(2000)} ${pps("compute1", 200)}`,
        `${host("compute2")} compute2.br-ex${bw(2000)} ${pps("compute2", 200)}`,
        cross,
        cross,
      ]);
      const roomy = await find(
        "qos",
        [vm, ...port("port1", 100, 100, msn), ...port("port2", 100, 100, msn)],
        q,
      );
      const c3 = (bridges: string) => `${host("compute3")} ${bridges} ${pps("compute3", 200)}`;
      const crossSmall = c3(`compute3.br-ex${bw(100)} compute3.br-ex2${bw(100)}`);
      same(roomy.allocs, [
        `${host("compute1")} compute1.br-ex${bw(200)} ${pps("compute1", 200)}`,
        `${host("compute2")} compute2.br-ex${bw(200)} ${pps("compute2", 200)}`,
        c3(`compute3.br-ex${bw(200)}`),
        c3(`compute3.br-ex2${bw(200)}`),
        crossSmall,
        crossSmall,
      ]);
    });
  });

  describe("wide tree", () => {
    test("7 of 8 one-unit GPUs in isolated named groups, limit 1", async () => {
      for (const n of [6, 7]) {
        const groups = Array.from({ length: n }, (_, i) => ({
          suffix: `G${i}`,
          res: { PGPU: 1 },
        }));
        const f = await find("wide", groups, { policy: "isolate", limit: 1 });
        assert.equal(f.allocs.length, 1);
        const c = f.raw.candidates[0];
        assert.ok(c);
        const gpus = c.allocations.map((a) => (fx.wide as Fixture).local(a.providerUuid));
        assert.equal(new Set(gpus).size, n, "every group on its own GPU");
        assert.ok(gpus.every((g) => /^gpu\d$/.test(g)));
        assert.ok(c.allocations.every((a) => a.resources.PGPU === 1n));
        const mapped = c.mappings.flatMap((m) => m.providerUuids);
        assert.equal(new Set(mapped).size, n);
      }
    });
  });
});

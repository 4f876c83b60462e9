/**
 * OpenStack Placement's functional-test provider fixtures (placement/tests/functional/fixtures/
 * gabbits.py), rebuilt through ResourceService's public API: CreateProvider, SetInventories,
 * SetProviderCapabilities, CreateProviderGroup, SetProviderGroups and Claim. Each fixture lives
 * in its own region (queries are bounded by it) and prefixes its provider and group names with
 * its key, so several fixtures share one server. Tests refer to providers and groups by their
 * local (Placement) names through the returned Fixture.
 */
import assert from "node:assert/strict";
import type { Client } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import type { MetadataService } from "../src/gen/mulligan/meta/v1/meta_pb.js";
import { GroupLevel, type ResourceService } from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { newUuid } from "../src/platform/ids.js";

type ResourceClient = Client<typeof ResourceService>;
type MetaClient = Client<typeof MetadataService>;

/** An inventory: a total, or the full record (defaults as Placement's). */
export type InventorySpec =
  | number
  | {
      total: number;
      reserved?: number;
      minUnit?: number;
      maxUnit?: number;
      stepSize?: number;
      allocationRatio?: number;
    };

/** One provider, by local name. */
export interface ProviderSpec {
  parent?: string;
  inv?: Record<string, InventorySpec>;
  caps?: string[];
  /** Local group names. */
  groups?: string[];
  /** A root's sub-region (local name, see FixtureSpec.subRegions); default: the fixture's. */
  region?: string;
}

/** A whole fixture: groups (with optional level), providers in creation order, usage. */
export interface FixtureSpec {
  groups?: Record<string, GroupLevel>;
  providers: [string, ProviderSpec][];
  /** Consumers to claim, each: local provider name → resources. */
  usage?: Record<string, Record<string, number>>[];
  /** CUSTOM_* classes and capabilities the fixture needs (created when missing). */
  classes?: string[];
  capabilities?: string[];
  /** Sub-regions of the fixture's region, by local name. */
  subRegions?: string[];
}

/** A built fixture: its region and the server identities of its providers and groups. */
export interface Fixture {
  region: string;
  /** Local provider name → UUID. */
  uuid(local: string): string;
  /** UUID → local provider name. */
  local(uuid: string): string;
  /** Local group name → server group name. */
  group(local: string): string;
  /** Local sub-region name → server region name. */
  subRegion(local: string): string;
  /** Consumer UUIDs of `usage`, in order. */
  consumers: string[];
}

async function ignoreExists(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (ConnectError.from(err).code !== Code.AlreadyExists) throw err;
  }
}

/** Builds a fixture under the key (used as region name and name prefix). */
export async function buildFixture(
  res: ResourceClient,
  meta: MetaClient,
  key: string,
  spec: FixtureSpec,
): Promise<Fixture> {
  for (const name of spec.classes ?? []) await ignoreExists(res.createResourceClass({ name }));
  for (const name of spec.capabilities ?? []) await ignoreExists(res.createCapability({ name }));
  const region = (await meta.createRegion({ name: key })).region;
  assert.ok(region, "no region");
  const subRegion = (local: string) => `${key}-${local}`;
  for (const local of spec.subRegions ?? [])
    await meta.createRegion({ name: subRegion(local), parent: region.name });
  const groupName = (local: string) => `${key}.${local}`;
  for (const [local, level] of Object.entries(spec.groups ?? {}))
    await res.createProviderGroup({ name: groupName(local), level });
  const uuids = new Map<string, string>();
  const locals = new Map<string, string>();
  const uuid = (local: string) => uuids.get(local) ?? assert.fail(`no provider ${local}`);
  for (const [local, p] of spec.providers) {
    const created = await res.createProvider({
      name: `${key}.${local}`,
      region: p.parent ? "" : p.region ? subRegion(p.region) : region.name,
      parent: p.parent ? uuid(p.parent) : "",
    });
    let generation = created.provider?.generation ?? 0n;
    const id = created.provider?.uuid ?? assert.fail("no provider");
    uuids.set(local, id);
    locals.set(id, local);
    if (p.inv) {
      const r = await res.setInventories({
        provider: id,
        generation,
        inventories: Object.entries(p.inv).map(([resourceClass, s]) => {
          const o = typeof s === "number" ? { total: s } : s;
          return {
            resourceClass,
            total: BigInt(o.total),
            reserved: BigInt(o.reserved ?? 0),
            minUnit: BigInt(o.minUnit ?? 0),
            maxUnit: BigInt(o.maxUnit ?? 0),
            stepSize: BigInt(o.stepSize ?? 0),
            allocationRatio: o.allocationRatio ?? 0,
          };
        }),
      });
      generation = r.provider?.generation ?? assert.fail("no generation");
    }
    if (p.caps) {
      const r = await res.setProviderCapabilities({
        provider: id,
        generation,
        capabilities: p.caps,
      });
      generation = r.provider?.generation ?? assert.fail("no generation");
    }
    if (p.groups)
      await res.setProviderGroups({ provider: id, generation, groups: p.groups.map(groupName) });
  }
  const consumers: string[] = [];
  for (const set of spec.usage ?? []) {
    const consumer = newUuid();
    consumers.push(consumer);
    await res.claim({
      consumer,
      allocations: Object.entries(set).map(([local, resources]) => ({
        provider: uuid(local),
        resources: Object.fromEntries(Object.entries(resources).map(([c, n]) => [c, BigInt(n)])),
      })),
    });
  }
  return {
    region: region.name,
    uuid,
    local: (id) => locals.get(id) ?? assert.fail(`unknown provider ${id}`),
    group: groupName,
    subRegion,
    consumers,
  };
}

const SHARES = "MISC_SHARES_VIA_AGGREGATE";

/** SharedStorageFixture: cn1 (SSE traits) and cn2 (local disk), ss and ss2 sharing DISK_GB. */
export function sharedStorage(res: ResourceClient, meta: MetaClient): Promise<Fixture> {
  const cn = {
    VCPU: { total: 24, allocationRatio: 16 },
    MEMORY_MB: { total: 131072, allocationRatio: 1.5 },
  };
  const disk = { DISK_GB: { total: 2000, reserved: 100 } };
  return buildFixture(res, meta, "pf-shared", {
    groups: { agg: GroupLevel.UNSPECIFIED },
    providers: [
      ["cn1", { inv: cn, caps: ["HW_CPU_X86_SSE", "HW_CPU_X86_SSE2"], groups: ["agg"] }],
      ["cn2", { inv: { ...cn, ...disk }, groups: ["agg"] }],
      ["ss", { inv: disk, caps: [SHARES], groups: ["agg"] }],
      ["ss2", { inv: disk, caps: [SHARES], groups: ["agg"] }],
      ["numa1_1", { parent: "cn1" }],
      ["numa1_2", { parent: "cn1" }],
      ["numa2_1", { parent: "cn2" }],
      ["numa2_2", { parent: "cn2" }],
      ["pf1_1", { parent: "numa1_1", inv: { SRIOV_NET_VF: 8 } }],
      ["pf1_2", { parent: "numa1_2", inv: { SRIOV_NET_VF: 8 } }],
      ["pf2_1", { parent: "numa2_1", inv: { SRIOV_NET_VF: 8 } }],
      ["pf2_2", { parent: "numa2_2", inv: { SRIOV_NET_VF: 8 } }],
    ],
  });
}

/** GranularFixture: cn_left / cn_middle / cn_right, shr_disk_1/2 and shr_net over aggA/B/C. */
export function granular(res: ResourceClient, meta: MetaClient): Promise<Fixture> {
  const base = { VCPU: 8, MEMORY_MB: 4096 };
  return buildFixture(res, meta, "pf-granular", {
    classes: ["CUSTOM_NET_MBPS"],
    capabilities: ["CUSTOM_FOO", "CUSTOM_DISK_SSD"],
    groups: {
      aggA: GroupLevel.UNSPECIFIED,
      aggB: GroupLevel.UNSPECIFIED,
      aggC: GroupLevel.UNSPECIFIED,
    },
    providers: [
      [
        "cn_left",
        {
          inv: { ...base, DISK_GB: 500, VGPU: 8, SRIOV_NET_VF: 8, CUSTOM_NET_MBPS: 4000 },
          caps: [
            "HW_CPU_X86_AVX",
            "HW_CPU_X86_AVX2",
            "HW_GPU_API_DXVA",
            "HW_NIC_DCB_PFC",
            "CUSTOM_FOO",
          ],
          groups: ["aggA"],
        },
      ],
      [
        "cn_middle",
        {
          inv: { ...base, SRIOV_NET_VF: 8, CUSTOM_NET_MBPS: 4000 },
          caps: ["HW_CPU_X86_AVX", "HW_CPU_X86_AVX2", "HW_CPU_X86_SSE", "HW_NIC_ACCEL_TLS"],
          groups: ["aggA", "aggB"],
        },
      ],
      [
        "cn_right",
        {
          inv: { ...base, DISK_GB: 500, VGPU: { total: 8, maxUnit: 2 } },
          caps: ["HW_CPU_X86_MMX", "HW_GPU_API_DXVA", "CUSTOM_DISK_SSD"],
          groups: ["aggB", "aggC"],
        },
      ],
      [
        "shr_disk_1",
        { inv: { DISK_GB: 1000 }, caps: [SHARES, "CUSTOM_DISK_SSD"], groups: ["aggA"] },
      ],
      ["shr_disk_2", { inv: { DISK_GB: 1000 }, caps: [SHARES], groups: ["aggA", "aggB"] }],
      [
        "shr_net",
        { inv: { SRIOV_NET_VF: 16, CUSTOM_NET_MBPS: 40000 }, caps: [SHARES], groups: ["aggC"] },
      ],
    ],
  });
}

/** NUMANetworkFixture: cn1 with NUMA nodes, devices and network agents; cn2 with NICs and PFs. */
export function numaNetwork(res: ResourceClient, meta: MetaClient): Promise<Fixture> {
  const pf = (parent: string, net: number, vf: number): ProviderSpec => ({
    parent,
    caps: [`CUSTOM_PHYSNET${net}`],
    inv: { CUSTOM_VF: vf },
  });
  return buildFixture(res, meta, "pf-numanet", {
    classes: ["CUSTOM_FPGA", "CUSTOM_VF"],
    capabilities: [
      "CUSTOM_FOO",
      "CUSTOM_VNIC_TYPE_DIRECT",
      "CUSTOM_VNIC_TYPE_NORMAL",
      "CUSTOM_PHYSNET0",
      "CUSTOM_PHYSNET1",
      "CUSTOM_PHYSNET2",
      "CUSTOM_HW_NIC_ROOT",
    ],
    groups: { aggA: GroupLevel.UNSPECIFIED },
    providers: [
      ["ss1", { caps: [SHARES], inv: { DISK_GB: 2000 }, groups: ["aggA"] }],
      ["cn1", { caps: ["COMPUTE_VOLUME_MULTI_ATTACH"], groups: ["aggA"] }],
      [
        "numa0",
        {
          parent: "cn1",
          caps: ["HW_NUMA_ROOT"],
          inv: { VCPU: 4, MEMORY_MB: { total: 2048, minUnit: 512, stepSize: 256 } },
        },
      ],
      [
        "numa1",
        {
          parent: "cn1",
          caps: ["HW_NUMA_ROOT", "CUSTOM_FOO"],
          inv: { VCPU: 4, MEMORY_MB: { total: 2048, minUnit: 256, maxUnit: 1024 } },
        },
      ],
      ["fpga0", { parent: "numa0", inv: { CUSTOM_FPGA: 1 } }],
      ["pgpu0", { parent: "numa0", inv: { VGPU: 8 } }],
      ["fpga1_0", { parent: "numa1", inv: { CUSTOM_FPGA: 1 } }],
      ["fpga1_1", { parent: "numa1", inv: { CUSTOM_FPGA: 1 } }],
      ["sriov_agent", { parent: "cn1", caps: ["CUSTOM_VNIC_TYPE_DIRECT"] }],
      [
        "esn1",
        {
          parent: "sriov_agent",
          caps: ["CUSTOM_PHYSNET1"],
          inv: { NET_BW_EGR_KILOBIT_PER_SEC: 10000 },
        },
      ],
      [
        "esn2",
        {
          parent: "sriov_agent",
          caps: ["CUSTOM_PHYSNET2"],
          inv: { NET_BW_EGR_KILOBIT_PER_SEC: 20000 },
        },
      ],
      ["ovs_agent", { parent: "cn1", caps: ["CUSTOM_VNIC_TYPE_NORMAL"] }],
      [
        "br_int",
        {
          parent: "ovs_agent",
          caps: ["CUSTOM_PHYSNET0"],
          inv: { NET_BW_EGR_KILOBIT_PER_SEC: 1000 },
        },
      ],
      [
        "cn2",
        {
          caps: ["CUSTOM_FOO"],
          groups: ["aggA"],
          inv: {
            VCPU: 8,
            MEMORY_MB: { total: 2048, minUnit: 1024, stepSize: 128 },
            DISK_GB: 1000,
          },
        },
      ],
      ["nic1", { parent: "cn2", caps: ["CUSTOM_HW_NIC_ROOT"] }],
      ["nic2", { parent: "cn2", caps: ["CUSTOM_HW_NIC_ROOT"] }],
      ["nic3", { parent: "cn2", caps: ["CUSTOM_HW_NIC_ROOT"] }],
      ["pf1_1", pf("nic1", 1, 4)],
      ["pf1_2", pf("nic1", 2, 4)],
      ["pf2_1", pf("nic2", 1, 2)],
      ["pf2_2", pf("nic2", 2, 2)],
      ["pf2_3", pf("nic2", 1, 2)],
      ["pf2_4", pf("nic2", 2, 2)],
      ["pf3_1", pf("nic3", 1, 8)],
    ],
    usage: [{ numa0: { VCPU: 2 } }, { cn2: { VCPU: 3 } }],
  });
}

/** NUMAAggregateFixture: resourceless cn1/cn2 with NUMA VCPU; ss1 via aggA, ss2 via aggC on numa1_1. */
export function numaAggregate(res: ResourceClient, meta: MetaClient): Promise<Fixture> {
  const vcpu = { VCPU: { total: 24, allocationRatio: 16 } };
  const disk = { DISK_GB: { total: 2000, reserved: 100 } };
  return buildFixture(res, meta, "pf-numaagg", {
    groups: {
      aggA: GroupLevel.UNSPECIFIED,
      aggB: GroupLevel.UNSPECIFIED,
      aggC: GroupLevel.UNSPECIFIED,
    },
    providers: [
      ["cn1", { groups: ["aggA"] }],
      ["cn2", { groups: ["aggA", "aggB"] }],
      ["ss1", { inv: disk, caps: [SHARES], groups: ["aggA"] }],
      ["ss2", { inv: disk, caps: [SHARES], groups: ["aggC"] }],
      ["numa1_1", { parent: "cn1", inv: vcpu, groups: ["aggC"] }],
      ["numa1_2", { parent: "cn1", inv: vcpu }],
      ["numa2_1", { parent: "cn2", inv: vcpu }],
      ["numa2_2", { parent: "cn2", inv: vcpu }],
    ],
  });
}

/**
 * NonSharedStorageFixture: three compute nodes with local disk, in the aggregates Placement's
 * member_of gabbit ends up with (cn1: aggA+aggC, cn2: aggA+aggB, cn3: none).
 */
export function nonSharedStorage(res: ResourceClient, meta: MetaClient): Promise<Fixture> {
  const inv = { VCPU: 24, MEMORY_MB: 131072, DISK_GB: 2000 };
  return buildFixture(res, meta, "pf-nonshared", {
    groups: {
      aggA: GroupLevel.UNSPECIFIED,
      aggB: GroupLevel.UNSPECIFIED,
      aggC: GroupLevel.UNSPECIFIED,
    },
    providers: [
      ["cn1", { inv, groups: ["aggA", "aggC"] }],
      ["cn2", { inv, groups: ["aggA", "aggB"] }],
      ["cn3", { inv }],
    ],
  });
}

/** AllocationFixture: one provider (VCPU 10, DISK_GB 2048 in steps of 10) with three consumers. */
export function allocationFixture(res: ResourceClient, meta: MetaClient): Promise<Fixture> {
  return buildFixture(res, meta, "pf-alloc", {
    providers: [
      [
        "rp",
        {
          inv: {
            DISK_GB: { total: 2048, stepSize: 10, minUnit: 10, maxUnit: 1000 },
            VCPU: { total: 10, maxUnit: 10 },
          },
        },
      ],
    ],
    usage: [{ rp: { DISK_GB: 1000 } }, { rp: { VCPU: 6 } }, { rp: { DISK_GB: 20, VCPU: 1 } }],
  });
}

/** NeutronQoSMultiSegmentFixture: compute0..3 with OVS and SR-IOV agent subtrees per segment. */
export function qosMultiSegment(res: ResourceClient, meta: MetaClient): Promise<Fixture> {
  const vnics = [
    "CUSTOM_VNIC_TYPE_DIRECT",
    "CUSTOM_VNIC_TYPE_DIRECT_PHYSICAL",
    "CUSTOM_VNIC_TYPE_MACVTAP",
  ];
  const bw = (n: number) => ({ NET_BW_EGR_KILOBIT_PER_SEC: n, NET_BW_IGR_KILOBIT_PER_SEC: n });
  const providers: [string, ProviderSpec][] = [];
  const compute = (i: number, bridges: [string, string][], pfs: [string, string][], n: number) => {
    const c = `compute${i}`;
    providers.push(
      [c, { inv: { VCPU: 8, MEMORY_MB: 4096, DISK_GB: 500 } }],
      [
        `${c}.ovs`,
        {
          parent: c,
          inv: { NET_PACKET_RATE_KILOPACKET_PER_SEC: 1000 },
          caps: ["CUSTOM_VNIC_TYPE_NORMAL"],
        },
      ],
      [`${c}.sriov`, { parent: c, caps: vnics }],
    );
    for (const [name, net] of bridges)
      providers.push([
        `${c}.${name}`,
        { parent: `${c}.ovs`, inv: bw(n), caps: ["CUSTOM_VNIC_TYPE_NORMAL", net] },
      ]);
    for (const [name, net] of pfs)
      providers.push([
        `${c}.${name}`,
        { parent: `${c}.sriov`, inv: bw(n * 2), caps: [...vnics, net] },
      ]);
  };
  const [other, s1, s2] = [
    "CUSTOM_PHYSNET_OTHER",
    "CUSTOM_PHYSNET_MSN_S1",
    "CUSTOM_PHYSNET_MSN_S2",
  ];
  compute(0, [["br-ex", other]], [["pf0", other]], 5000);
  compute(1, [["br-ex", s1]], [["pf0", s1]], 5000);
  compute(2, [["br-ex", s2]], [["pf0", s2]], 5000);
  providers.push(
    ["compute3", { inv: { VCPU: 8, MEMORY_MB: 4096, DISK_GB: 500 } }],
    [
      "compute3.ovs",
      {
        parent: "compute3",
        inv: { NET_PACKET_RATE_KILOPACKET_PER_SEC: 1000 },
        caps: ["CUSTOM_VNIC_TYPE_NORMAL"],
      },
    ],
    ["compute3.sriov", { parent: "compute3", caps: vnics }],
    [
      "compute3.br-ex",
      { parent: "compute3.ovs", inv: bw(1000), caps: ["CUSTOM_VNIC_TYPE_NORMAL", s1] },
    ],
    [
      "compute3.br-ex2",
      { parent: "compute3.ovs", inv: bw(1000), caps: ["CUSTOM_VNIC_TYPE_NORMAL", s2] },
    ],
    ["compute3.pf0", { parent: "compute3.sriov", inv: bw(1000), caps: [...vnics, s1] }],
    ["compute3.pf1", { parent: "compute3.sriov", inv: bw(1000), caps: [...vnics, s2] }],
  );
  return buildFixture(res, meta, "pf-qos", {
    capabilities: ["CUSTOM_VNIC_TYPE_NORMAL", ...vnics, other, s1, s2],
    providers,
  });
}

/** The wide tree: one host with eight one-unit GPU children. */
export function wideTree(res: ResourceClient, meta: MetaClient): Promise<Fixture> {
  const gpus: [string, ProviderSpec][] = Array.from({ length: 8 }, (_, i) => [
    `gpu${i}`,
    { parent: "host", inv: { PGPU: 1 } },
  ]);
  return buildFixture(res, meta, "pf-wide", {
    providers: [["host", { inv: { VCPU: 16 } }], ...gpus],
  });
}

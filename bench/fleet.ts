/**
 * The bench fleet, as plain data (no store, no server): trees of 7 providers
 *
 *   host  (DISK_GB 2000; storage/tier/power capabilities; member of one of `racks` racks)
 *   ├─ numa0 (VCPU 32 ×2.0, MEMORY_MB 131072 − 4096 reserved; CPU-flag capabilities)
 *   │   ├─ fpga0 (CUSTOM_FPGA 1; vendor/speed capabilities)
 *   │   └─ fpga1
 *   └─ numa1 …
 *
 * 20 capabilities spread over the three levels, and pre-consumed capacity: each NUMA node is
 * filled to a random fraction in [0, 2·fill] by "VMs" (VCPU 2 + MEMORY_MB 4096 on the NUMA node,
 * DISK_GB 40 on the host: 3 allocation rows each) and each FPGA is taken with probability
 * `fill` (1 row). With fill 0.3 that is ~30% of VCPU, MEMORY_MB and CUSTOM_FPGA (~36% of
 * DISK_GB) and ~56 allocation rows per tree (~558,000 for 10,000 trees). An empty tree holds 50
 * VMs (DISK_GB binds). Everything comes from a seeded PRNG, so a fleet is reproducible.
 *
 * Used by bench/lib/seed.ts (writes it into a Mulligan store) and by the placement bench (loads
 * the same fleet into Placement). The queries of the benches (bench/queries.ts) ask for these
 * classes and capabilities.
 */

import { prng } from "../test/prng.js";

export const DEVICE_CLASS = "CUSTOM_FPGA";

/** One VM of the pre-consumed load, and the size ClaimBest asks for in the claims bench. */
export const VM = { VCPU: 2, MEMORY_MB: 4096, DISK_GB: 40 } as const;

export interface InventorySpec {
  resourceClass: string;
  total: number;
  reserved: number;
  allocationRatio: number;
}

export interface ProviderSpec {
  name: string;
  /** Index of the parent in the tree's providers; -1 for the root. */
  parent: number;
  inventories: InventorySpec[];
  capabilities: string[];
}

export interface ConsumerSpec {
  /** Provider index in the tree → class → amount. */
  allocations: { provider: number; resourceClass: string; amount: number }[];
}

export interface TreeSpec {
  index: number;
  /** providers[0] is the host (root). */
  providers: ProviderSpec[];
  /** Rack (group) index of the host. */
  rack: number;
  consumers: ConsumerSpec[];
}

export interface FleetOptions {
  trees: number;
  /** Fraction of capacity pre-consumed, on average (0 = empty fleet). */
  fill: number;
  /** Number of rack groups (default 50). */
  racks?: number;
  /** PRNG seed (default 42). */
  seed?: number;
}

/** Capabilities of the fleet (20), grouped by the level that carries them. */
export const HOST_CAPABILITIES = [
  "STORAGE_DISK_SSD",
  "STORAGE_DISK_HDD",
  "COMPUTE_VOLUME_ATTACH",
  "COMPUTE_VOLUME_EXTEND",
  "CUSTOM_POWER_A",
  "CUSTOM_POWER_B",
  "CUSTOM_TIER_GOLD",
  "CUSTOM_TIER_SILVER",
] as const;
export const NUMA_CAPABILITIES = [
  "HW_NUMA_ROOT",
  "HW_CPU_X86_AVX",
  "HW_CPU_X86_AVX2",
  "HW_CPU_X86_AVX512F",
  "HW_CPU_X86_AVX512BW",
  "HW_CPU_X86_AVX512DQ",
  "HW_CPU_X86_AVX512VL",
  "HW_CPU_X86_AVX512CD",
] as const;
export const DEVICE_CAPABILITIES = [
  "CUSTOM_FPGA_XILINX",
  "CUSTOM_FPGA_INTEL",
  "CUSTOM_FPGA_40G",
  "CUSTOM_FPGA_100G",
] as const;
export const FLEET_CAPABILITIES: readonly string[] = [
  ...HOST_CAPABILITIES,
  ...NUMA_CAPABILITIES,
  ...DEVICE_CAPABILITIES,
];
/** A capability that exists but no provider has (for unsatisfiable queries). */
export const UNUSED_CAPABILITY = "CUSTOM_BENCH_NOBODY";
/** The CUSTOM_* capabilities to create before seeding. */
export const CUSTOM_CAPABILITIES: readonly string[] = [
  ...FLEET_CAPABILITIES.filter((c) => c.startsWith("CUSTOM_")),
  UNUSED_CAPABILITY,
];

export const rackName = (i: number) => `rack-${String(i).padStart(2, "0")}`;
export const hostName = (tree: number) => `t${String(tree).padStart(6, "0")}`;

/** Providers per tree. */
export const PROVIDERS_PER_TREE = 7;

const HOST_DISK = 2000;
const NUMA_VCPU = 32;
const VCPU_RATIO = 2;
const NUMA_MEMORY = 131072;
const MEMORY_RESERVED = 4096;

/** floor((total − reserved) × ratio), as Mulligan and Placement compute capacity. */
export function capacityOf(inv: InventorySpec): number {
  return Math.floor((inv.total - inv.reserved) * inv.allocationRatio);
}

/** VMs of size VM one empty tree holds (the binding class decides). */
export function vmsPerTree(): number {
  const perNuma = Math.min(
    Math.floor((NUMA_VCPU * VCPU_RATIO) / VM.VCPU),
    Math.floor((NUMA_MEMORY - MEMORY_RESERVED) / VM.MEMORY_MB),
  );
  return Math.min(2 * perNuma, Math.floor(HOST_DISK / VM.DISK_GB));
}

const inv = (resourceClass: string, total: number, reserved = 0, allocationRatio = 1) => ({
  resourceClass,
  total,
  reserved,
  allocationRatio,
});

/** The trees of a fleet, one at a time (deterministic for given options). */
export function* fleetTrees(options: FleetOptions): Generator<TreeSpec> {
  const rand = prng(options.seed ?? 42);
  const racks = options.racks ?? 50;
  const pick = (p: number) => rand() < p;
  for (let t = 0; t < options.trees; t++) {
    const host = hostName(t);
    const ssd = pick(0.6);
    const providers: ProviderSpec[] = [
      {
        name: host,
        parent: -1,
        inventories: [inv("DISK_GB", HOST_DISK)],
        capabilities: [
          ssd ? "STORAGE_DISK_SSD" : "STORAGE_DISK_HDD",
          "COMPUTE_VOLUME_ATTACH",
          ...(pick(0.5) ? ["COMPUTE_VOLUME_EXTEND"] : []),
          t % 2 === 0 ? "CUSTOM_POWER_A" : "CUSTOM_POWER_B",
          pick(0.2) ? "CUSTOM_TIER_GOLD" : "CUSTOM_TIER_SILVER",
        ],
      },
    ];
    const avx512 = pick(0.3);
    for (let n = 0; n < 2; n++) {
      const numa = providers.length;
      providers.push({
        name: `${host}-numa${n}`,
        parent: 0,
        inventories: [
          inv("VCPU", NUMA_VCPU, 0, VCPU_RATIO),
          inv("MEMORY_MB", NUMA_MEMORY, MEMORY_RESERVED),
        ],
        capabilities: [
          "HW_NUMA_ROOT",
          "HW_CPU_X86_AVX",
          ...(pick(0.9) ? ["HW_CPU_X86_AVX2"] : []),
          ...(avx512
            ? [
                "HW_CPU_X86_AVX512F",
                "HW_CPU_X86_AVX512BW",
                "HW_CPU_X86_AVX512DQ",
                "HW_CPU_X86_AVX512VL",
                "HW_CPU_X86_AVX512CD",
              ]
            : []),
        ],
      });
      for (let d = 0; d < 2; d++)
        providers.push({
          name: `${host}-numa${n}-fpga${d}`,
          parent: numa,
          inventories: [inv(DEVICE_CLASS, 1)],
          capabilities: [
            pick(0.5) ? "CUSTOM_FPGA_XILINX" : "CUSTOM_FPGA_INTEL",
            pick(0.5) ? "CUSTOM_FPGA_40G" : "CUSTOM_FPGA_100G",
          ],
        });
    }
    yield {
      index: t,
      providers,
      rack: t % racks,
      consumers: preConsumed(providers, options.fill, rand),
    };
  }
}

/** VMs on each NUMA node up to a random fill in [0, 2·fill], then FPGAs with probability fill. */
function preConsumed(providers: ProviderSpec[], fill: number, rand: () => number): ConsumerSpec[] {
  if (fill <= 0) return [];
  const free = new Map<string, number>();
  providers.forEach((p, i) => {
    for (const v of p.inventories) free.set(`${i}/${v.resourceClass}`, capacityOf(v));
  });
  const take = (allocs: ConsumerSpec["allocations"]) => {
    if (allocs.some((a) => (free.get(`${a.provider}/${a.resourceClass}`) ?? 0) < a.amount))
      return false;
    for (const a of allocs) {
      const key = `${a.provider}/${a.resourceClass}`;
      free.set(key, (free.get(key) ?? 0) - a.amount);
    }
    return true;
  };
  const consumers: ConsumerSpec[] = [];
  providers.forEach((p, i) => {
    const vcpu = p.inventories.find((v) => v.resourceClass === "VCPU");
    if (!vcpu) return;
    const target = Math.min(1, rand() * 2 * fill);
    const vms = Math.floor((target * capacityOf(vcpu)) / VM.VCPU);
    for (let k = 0; k < vms; k++) {
      const allocations = [
        { provider: i, resourceClass: "VCPU", amount: VM.VCPU },
        { provider: i, resourceClass: "MEMORY_MB", amount: VM.MEMORY_MB },
        { provider: 0, resourceClass: "DISK_GB", amount: VM.DISK_GB },
      ];
      if (take(allocations)) consumers.push({ allocations });
    }
  });
  providers.forEach((p, i) => {
    if (p.inventories[0]?.resourceClass !== DEVICE_CLASS || rand() >= fill) return;
    const allocations = [{ provider: i, resourceClass: DEVICE_CLASS, amount: 1 }];
    if (take(allocations)) consumers.push({ allocations });
  });
  return consumers;
}

/**
 * The fleets loaded, identically, into Placement and into Mulligan, as plain data: trees of
 * providers (parents first) with inventories, traits (Mulligan: capabilities) and aggregates
 * (Mulligan: provider groups). They mirror Placement's own perf gate:
 *
 * - flat: placeload's compute nodes (gate/perfload-runner.sh): VCPU 32 (max_unit 16),
 *   MEMORY_MB 8192 (min_unit 128), DISK_GB 8192 (min_unit 5); aggregates cycling over
 *   [A], [A, B], [A, B, C] so every node is in A. Traits: placeload 0.3.0's trait step was not
 *   at hand, so traits cycle over three sets and two nodes in three have HW_CPU_X86_AVX2 (the
 *   perf-gate query's required trait).
 * - nested: gate/gabbits/nested-perfload.yaml's tree of 7: a compute node (DISK_GB 20480,
 *   COMPUTE_VOLUME_MULTI_ATTACH) with two NUMA nodes (HW_NUMA_ROOT; numa1 also CUSTOM_FOO),
 *   numa0 holding an FPGA and a VGPU device, numa1 two FPGAs.
 * - wide: one host with `gpus` children of one CUSTOM_BENCH_GPU unit each.
 */
import { randomUUID } from "node:crypto";

export interface InventorySpec {
  total: number;
  reserved?: number;
  minUnit?: number;
  maxUnit?: number;
  stepSize?: number;
  allocationRatio?: number;
}

export interface ProviderSpec {
  uuid: string;
  name: string;
  /** Parent UUID; null for a root. */
  parent: string | null;
  inventories: Record<string, InventorySpec>;
  traits: string[];
  /** Aggregate UUIDs. */
  aggregates: string[];
}

export interface Fleet {
  /** CUSTOM_* traits and resource classes to create before loading. */
  customTraits: string[];
  customClasses: string[];
  /** Every aggregate UUID used (Mulligan creates a group per aggregate). */
  aggregates: string[];
  /** Each tree's providers, parents before children. */
  trees: ProviderSpec[][];
}

/** The flat fleet's aggregates; every compute node is in the first. */
export interface FlatAggregates {
  all: [string, string, string];
}

export function newFlatAggregates(): FlatAggregates {
  return { all: [randomUUID(), randomUUID(), randomUUID()] };
}

const FLAT_TRAITS: readonly string[][] = [
  ["HW_CPU_X86_AVX2", "HW_CPU_X86_SSE"],
  ["HW_CPU_X86_AVX2", "STORAGE_DISK_SSD"],
  ["HW_CPU_X86_SSE"],
];

/** Compute nodes number `from` .. `from + count - 1` of the flat perf-gate fleet. */
export function flatFleet(aggs: FlatAggregates, from: number, count: number): Fleet {
  const [a, b, c] = aggs.all;
  const aggCycle = [[a], [a, b], [a, b, c]];
  const trees: ProviderSpec[][] = [];
  for (let i = from; i < from + count; i++) {
    trees.push([
      {
        uuid: randomUUID(),
        name: `cn-${i}`,
        parent: null,
        inventories: {
          VCPU: { total: 32, minUnit: 1, maxUnit: 16 },
          MEMORY_MB: { total: 8192, minUnit: 128, maxUnit: 8192 },
          DISK_GB: { total: 8192, minUnit: 5, maxUnit: 8192 },
        },
        traits: [...(FLAT_TRAITS[i % 3] ?? [])],
        aggregates: [...(aggCycle[i % 3] ?? [])],
      },
    ]);
  }
  return { customTraits: [], customClasses: [], aggregates: [...aggs.all], trees };
}

/** `count` trees of nested-perfload.yaml's 7-provider topology. */
export function nestedFleet(count: number): Fleet {
  const trees: ProviderSpec[][] = [];
  for (let i = 0; i < count; i++) {
    const cn = randomUUID();
    const n0 = randomUUID();
    const n1 = randomUUID();
    const node = (
      name: string,
      parent: string | null,
      inventories: Record<string, InventorySpec>,
      traits: string[] = [],
      uuid = randomUUID(),
    ): ProviderSpec => ({
      uuid,
      name: `${name}-${i}`,
      parent,
      inventories,
      traits,
      aggregates: [],
    });
    trees.push([
      node("cn", null, { DISK_GB: { total: 20480 } }, ["COMPUTE_VOLUME_MULTI_ATTACH"], cn),
      node(
        "numa0",
        cn,
        {
          VCPU: { total: 4, reserved: 2 },
          MEMORY_MB: { total: 2048, minUnit: 512, stepSize: 256 },
        },
        ["HW_NUMA_ROOT"],
        n0,
      ),
      node("fpga0-0", n0, { FPGA: { total: 1 } }),
      node("pgpu0-0", n0, { VGPU: { total: 8 } }),
      node(
        "numa1",
        cn,
        { VCPU: { total: 4 }, MEMORY_MB: { total: 2048, minUnit: 256, maxUnit: 1024 } },
        ["HW_NUMA_ROOT", "CUSTOM_FOO"],
        n1,
      ),
      node("fpga1-0", n1, { FPGA: { total: 1 } }),
      node("fpga1-1", n1, { FPGA: { total: 1 } }),
    ]);
  }
  return { customTraits: ["CUSTOM_FOO"], customClasses: [], aggregates: [], trees };
}

/** The custom class of the wide tree's devices. */
export const GPU_CLASS = "CUSTOM_BENCH_GPU";

/** One host with `gpus` one-unit GPU children. */
export function wideFleet(gpus: number): Fleet {
  const host = randomUUID();
  const tree: ProviderSpec[] = [
    {
      uuid: host,
      name: "gpu-host",
      parent: null,
      inventories: {
        VCPU: { total: 64 },
        MEMORY_MB: { total: 262144 },
        DISK_GB: { total: 2000 },
      },
      traits: [],
      aggregates: [],
    },
  ];
  for (let g = 0; g < gpus; g++)
    tree.push({
      uuid: randomUUID(),
      name: `gpu-host-gpu${g}`,
      parent: host,
      inventories: { [GPU_CLASS]: { total: 1 } },
      traits: [],
      aggregates: [],
    });
  return { customTraits: [], customClasses: [GPU_CLASS], aggregates: [], trees: [tree] };
}

/** Number of providers in a fleet. */
export function providerCount(fleet: Fleet): number {
  return fleet.trees.reduce((n, t) => n + t.length, 0);
}

/**
 * What this host offers the resource engine: VCPU, MEMORY_MB and DISK_GB inventories and the
 * standard capabilities its CPU has. `readHostSnapshot` reads the machine; `hostInventory` is
 * a pure function of that snapshot, so the mapping is tested without the machine.
 */
import { readFile, statfs } from "node:fs/promises";
import { availableParallelism, totalmem } from "node:os";
import capabilities from "../resource/data/standard-capabilities.json" with { type: "json" };

/** The resource classes an executor host registers. */
export type HostClass = "VCPU" | "MEMORY_MB" | "DISK_GB";

/** The facts the inventory is computed from. */
export interface HostSnapshot {
  /** Logical CPUs the process may use. */
  cpus: number;
  memoryBytes: number;
  /** Size (free + used) of the filesystem holding the state directory. */
  diskBytes: number;
  /** The `flags` of /proc/cpuinfo (empty where there is none). */
  cpuFlags: readonly string[];
  /** `process.arch`. */
  arch: string;
}

/** How much of each class the host keeps for itself, and how far each may be overcommitted. */
export interface InventoryPolicy {
  reserved: Readonly<Record<HostClass, number>>;
  allocationRatios: Readonly<Record<HostClass, number>>;
}

/** One inventory as SetInventories takes it. */
export interface HostInventoryItem {
  resourceClass: HostClass;
  total: bigint;
  reserved: bigint;
  minUnit: bigint;
  maxUnit: bigint;
  stepSize: bigint;
  allocationRatio: number;
}

/** The host's inventories and standard capabilities. */
export interface HostInventory {
  inventories: HostInventoryItem[];
  /** Sorted, each one a standard capability name. */
  capabilities: string[];
}

const MIB = 1024 ** 2;
const GIB = 1024 ** 3;

/**
 * /proc/cpuinfo flags → Placement trait suffixes (os-traits' HW_CPU_X86_*), following the names
 * Nova's libvirt driver uses. Only names that are standard capabilities are ever reported.
 */
const CPU_FLAG_TRAITS: Readonly<Record<string, string>> = {
  mmx: "MMX",
  sse: "SSE",
  sse2: "SSE2",
  pni: "SSE3",
  ssse3: "SSSE3",
  sse4_1: "SSE41",
  sse4_2: "SSE42",
  sse4a: "SSE4A",
  avx: "AVX",
  avx2: "AVX2",
  aes: "AESNI",
  pclmulqdq: "CLMUL",
  fma: "FMA3",
  fma4: "FMA4",
  f16c: "F16C",
  abm: "ABM",
  bmi1: "BMI",
  bmi2: "BMI2",
  sha_ni: "SHA",
  xop: "XOP",
  tbm: "TBM",
  mpx: "MPX",
  sgx: "SGX",
  pdpe1gb: "PDPE1GB",
  vmx: "VMX",
  svm: "SVM",
  avx512f: "AVX512F",
  avx512cd: "AVX512CD",
  avx512dq: "AVX512DQ",
  avx512bw: "AVX512BW",
  avx512vl: "AVX512VL",
  avx512er: "AVX512ER",
  avx512pf: "AVX512PF",
  avx512ifma: "AVX512IFMA",
  avx512vbmi: "AVX512VBMI",
  avx512_vbmi2: "AVX512VBMI2",
  avx512_vnni: "AVX512VNNI",
  avx512_bitalg: "AVX512BITALG",
  avx512_vpopcntdq: "AVX512VPOPCNTDQ",
  gfni: "AVX512GFNI",
  vaes: "AVX512VAES",
  vpclmulqdq: "AVX512VPCLMULQDQ",
};

/** Placement's standard capability names (the executor never creates CUSTOM_ ones). */
const STANDARD: ReadonlySet<string> = new Set(capabilities.names);

/**
 * The architecture capability of each architecture name a machine may report: Node's
 * `process.arch` (this host) and `uname -m` (a bare-metal node, read by the deploy agent).
 */
const ARCH_CAPABILITIES: Readonly<Record<string, string>> = {
  x64: "COMPUTE_ARCH_X86_64",
  x86_64: "COMPUTE_ARCH_X86_64",
  arm64: "COMPUTE_ARCH_AARCH64",
  aarch64: "COMPUTE_ARCH_AARCH64",
};

/**
 * The standard capabilities a processor's architecture and /proc/cpuinfo flags show
 * (COMPUTE_ARCH_*, HW_CPU_X86_*), sorted; the same for a VM host and a bare-metal node.
 */
export function cpuCapabilities(arch: string, cpuFlags: Iterable<string>): string[] {
  const names = new Set<string>();
  const archName = ARCH_CAPABILITIES[arch];
  if (archName) names.add(archName);
  for (const flag of cpuFlags) {
    const suffix = CPU_FLAG_TRAITS[flag];
    if (suffix) names.add(`HW_CPU_X86_${suffix}`);
  }
  return [...names].filter((n) => STANDARD.has(n)).sort();
}

/** The inventories and capabilities of a host, from its snapshot and the operator's policy. */
export function hostInventory(snapshot: HostSnapshot, policy: InventoryPolicy): HostInventory {
  const totals: Record<HostClass, number> = {
    VCPU: Math.floor(snapshot.cpus),
    MEMORY_MB: Math.floor(snapshot.memoryBytes / MIB),
    DISK_GB: Math.floor(snapshot.diskBytes / GIB),
  };
  const inventories: HostInventoryItem[] = [];
  for (const resourceClass of ["VCPU", "MEMORY_MB", "DISK_GB"] as const) {
    const total = totals[resourceClass];
    // A class the host has none of is left out rather than registered empty.
    if (total <= 0) continue;
    const reserved = Math.min(total, Math.max(0, Math.floor(policy.reserved[resourceClass])));
    inventories.push({
      resourceClass,
      total: BigInt(total),
      reserved: BigInt(reserved),
      minUnit: 1n,
      maxUnit: BigInt(total),
      stepSize: 1n,
      allocationRatio: policy.allocationRatios[resourceClass],
    });
  }
  const names = ["COMPUTE_NODE", ...cpuCapabilities(snapshot.arch, snapshot.cpuFlags)];
  return { inventories, capabilities: names.filter((n) => STANDARD.has(n)).sort() };
}

/** Reads this machine: CPUs, memory, the state directory's filesystem and the CPU flags. */
export async function readHostSnapshot(stateDir: string): Promise<HostSnapshot> {
  const fs = await statfs(stateDir);
  return {
    cpus: availableParallelism(),
    memoryBytes: totalmem(),
    diskBytes: fs.blocks * fs.bsize,
    cpuFlags: parseCpuFlags(await readCpuInfo()),
    arch: process.arch,
  };
}

/** The flags of the first processor in /proc/cpuinfo text (all processors share them). */
export function parseCpuFlags(cpuinfo: string): string[] {
  const line = cpuinfo.split("\n").find((l) => /^flags\s*:/.test(l));
  if (!line) return [];
  return line
    .slice(line.indexOf(":") + 1)
    .trim()
    .split(/\s+/)
    .filter((f) => f !== "");
}

async function readCpuInfo(): Promise<string> {
  try {
    return await readFile("/proc/cpuinfo", "utf8");
  } catch {
    // Not Linux: no flags, so no CPU capabilities are claimed.
    return "";
  }
}

/**
 * The host's inventory and capabilities as a function of what the machine has: totals,
 * reserved amounts and ratios per class, CPU flags mapped to standard capabilities only, and
 * the reader on this very machine.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  type HostSnapshot,
  hostInventory,
  type InventoryPolicy,
  parseCpuFlags,
  readHostSnapshot,
} from "./host-inventory.js";
import { DEFAULT_ALLOCATION_RATIOS, DEFAULT_RESERVED } from "./options.js";

const GIB = 1024 ** 3;
const POLICY: InventoryPolicy = {
  reserved: DEFAULT_RESERVED,
  allocationRatios: DEFAULT_ALLOCATION_RATIOS,
};
const HOST: HostSnapshot = {
  cpus: 8,
  memoryBytes: 16 * GIB + 123,
  diskBytes: 100.7 * GIB,
  cpuFlags: [],
  arch: "x64",
};

test("totals, reserved amounts and ratios per class", () => {
  const { inventories } = hostInventory(HOST, POLICY);
  assert.deepEqual(inventories, [
    {
      resourceClass: "VCPU",
      total: 8n,
      reserved: 0n,
      minUnit: 1n,
      maxUnit: 8n,
      stepSize: 1n,
      allocationRatio: 4,
    },
    {
      resourceClass: "MEMORY_MB",
      total: 16384n,
      reserved: 512n,
      minUnit: 1n,
      maxUnit: 16384n,
      stepSize: 1n,
      allocationRatio: 1,
    },
    {
      resourceClass: "DISK_GB",
      total: 100n,
      reserved: 1n,
      minUnit: 1n,
      maxUnit: 100n,
      stepSize: 1n,
      allocationRatio: 1,
    },
  ]);
});

test("the operator's policy replaces the defaults; reserved never exceeds the total", () => {
  const policy: InventoryPolicy = {
    reserved: { VCPU: 2, MEMORY_MB: 1_000_000, DISK_GB: 0 },
    allocationRatios: { VCPU: 16, MEMORY_MB: 1.5, DISK_GB: 2 },
  };
  const byClass = new Map(hostInventory(HOST, policy).inventories.map((i) => [i.resourceClass, i]));
  assert.equal(byClass.get("VCPU")?.reserved, 2n);
  assert.equal(byClass.get("VCPU")?.allocationRatio, 16);
  assert.equal(byClass.get("MEMORY_MB")?.reserved, 16384n);
  assert.equal(byClass.get("MEMORY_MB")?.allocationRatio, 1.5);
  assert.equal(byClass.get("DISK_GB")?.reserved, 0n);
});

test("a class the host has none of is left out", () => {
  const { inventories } = hostInventory({ ...HOST, diskBytes: 0.5 * GIB }, POLICY);
  assert.deepEqual(
    inventories.map((i) => i.resourceClass),
    ["VCPU", "MEMORY_MB"],
  );
});

for (const [name, flags, arch, expected] of [
  [
    "no flags: a compute node of its architecture",
    [],
    "x64",
    ["COMPUTE_ARCH_X86_64", "COMPUTE_NODE"],
  ],
  ["an unknown architecture adds nothing", [], "mips", ["COMPUTE_NODE"]],
  [
    "flags map to Placement's names",
    ["sse4_1", "sse4_2", "aes", "avx", "avx2", "vmx", "pni", "avx512_vnni"],
    "x64",
    [
      "COMPUTE_ARCH_X86_64",
      "COMPUTE_NODE",
      "HW_CPU_X86_AESNI",
      "HW_CPU_X86_AVX",
      "HW_CPU_X86_AVX2",
      "HW_CPU_X86_AVX512VNNI",
      "HW_CPU_X86_SSE3",
      "HW_CPU_X86_SSE41",
      "HW_CPU_X86_SSE42",
      "HW_CPU_X86_VMX",
    ],
  ],
  [
    "flags without a standard name are ignored",
    ["fpu", "lm", "hypervisor", "svm"],
    "x64",
    ["COMPUTE_ARCH_X86_64", "COMPUTE_NODE", "HW_CPU_X86_SVM"],
  ],
] as const)
  test(`capabilities: ${name}`, () => {
    const { capabilities } = hostInventory({ ...HOST, cpuFlags: flags, arch }, POLICY);
    assert.deepEqual(capabilities, expected);
  });

test("parseCpuFlags reads the first flags line", () => {
  const cpuinfo = [
    "processor\t: 0",
    "model name\t: Some CPU",
    "flags\t\t: fpu  sse4_2 avx ",
    "",
    "processor\t: 1",
    "flags\t\t: fpu",
  ].join("\n");
  assert.deepEqual(parseCpuFlags(cpuinfo), ["fpu", "sse4_2", "avx"]);
  assert.deepEqual(parseCpuFlags("processor\t: 0\n"), []);
});

test("readHostSnapshot reads this machine", async () => {
  const dir = await mkdtemp(join(tmpdir(), "mulligan-inventory-"));
  try {
    const snapshot = await readHostSnapshot(dir);
    assert.ok(snapshot.cpus >= 1);
    assert.ok(snapshot.memoryBytes > 0);
    assert.ok(snapshot.diskBytes > 0);
    assert.equal(snapshot.arch, process.arch);
    const { inventories, capabilities } = hostInventory(snapshot, POLICY);
    assert.ok(inventories.some((i) => i.resourceClass === "VCPU"));
    assert.ok(capabilities.includes("COMPUTE_NODE"));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

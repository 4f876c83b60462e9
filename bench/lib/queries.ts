/**
 * The queries the Mulligan-only benches ask of the bench fleet (bench/fleet.ts), as
 * ResourceQuery init messages:
 * - flat: one unnamed group (VCPU, MEMORY_MB, DISK_GB of one VM, AVX2 required): each class may
 *   come from any provider of a tree, so a tree gives up to 4 candidates (2 NUMA × 2 NUMA).
 * - nested: DISK_GB (SSD host) unnamed, plus named COMPUTE (VCPU + MEMORY_MB on one NUMA node
 *   with AVX2) and ACCEL (one CUSTOM_FPGA) in the same subtree: the FPGA under that NUMA node.
 * - unsatisfiable: the flat query plus a capability no provider has.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  type ClaimBestRequest,
  ClaimBestRequestSchema,
  GroupPolicy,
  type ResourceQuery,
  type ResourceQuerySchema,
  type Weigher,
} from "../../src/gen/mulligan/resource/v1/resource_pb.js";
import { DEVICE_CLASS, UNUSED_CAPABILITY, VM } from "../fleet.js";

export type ResourceQueryInit = MessageInitShape<typeof ResourceQuerySchema>;
export type QueryName = "flat" | "nested" | "unsatisfiable";
export const QUERY_NAMES: readonly QueryName[] = ["flat", "nested", "unsatisfiable"];

const amounts = (r: Record<string, number>) =>
  Object.fromEntries(Object.entries(r).map(([k, v]) => [k, BigInt(v)]));

/** The VM-sized flat query (also what ClaimBest asks for in the claims bench). */
export function flatQuery(limit: number, required: string[] = ["HW_CPU_X86_AVX2"]) {
  return {
    groups: [{ suffix: "", resources: amounts(VM), required }],
    limit,
  } satisfies ResourceQueryInit;
}

export function nestedQuery(limit: number) {
  return {
    groups: [
      { suffix: "", resources: amounts({ DISK_GB: VM.DISK_GB }), required: ["STORAGE_DISK_SSD"] },
      {
        suffix: "COMPUTE",
        resources: amounts({ VCPU: VM.VCPU, MEMORY_MB: VM.MEMORY_MB }),
        required: ["HW_CPU_X86_AVX2"],
      },
      { suffix: "ACCEL", resources: amounts({ [DEVICE_CLASS]: 1 }) },
    ],
    groupPolicy: GroupPolicy.NONE,
    sameSubtree: [{ suffixes: ["COMPUTE", "ACCEL"] }],
    limit,
  } satisfies ResourceQueryInit;
}

export function unsatisfiableQuery(limit: number) {
  return flatQuery(limit, ["HW_CPU_X86_AVX2", UNUSED_CAPABILITY]);
}

export function namedQuery(name: QueryName, limit: number): ResourceQueryInit {
  if (name === "flat") return flatQuery(limit);
  if (name === "nested") return nestedQuery(limit);
  return unsatisfiableQuery(limit);
}

/** A scheduler's ClaimBest for one new VM: a fresh request id and consumer each time. */
export function newVmClaim(query: ResourceQuery, weigher: Weigher, topK: number): ClaimBestRequest {
  return create(ClaimBestRequestSchema, {
    requestId: crypto.randomUUID(),
    consumer: crypto.randomUUID(),
    consumerType: "INSTANCE",
    query,
    weigher,
    topK,
  });
}

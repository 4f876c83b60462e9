/**
 * The perf-gate queries as plain data, and their two spellings: Placement's
 * GET /allocation_candidates query string and Mulligan's ResourceQuery. Request groups map one
 * to one (unnamed group ↔ suffix "", `resources_X` ↔ suffix "X"), traits ↔ capabilities,
 * member_of aggregates ↔ provider groups, group_policy and same_subtree ↔ their namesakes.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  GroupPolicy,
  type ResourceQuerySchema,
} from "../../src/gen/mulligan/resource/v1/resource_pb.js";
import { GPU_CLASS } from "./fleets.js";
import { groupName } from "./load-mulligan.js";

export interface GroupQuery {
  /** "" for the unnamed group. */
  suffix: string;
  resources: Record<string, number>;
  required?: string[];
  /** One member_of: the provider must be in one of these aggregates. */
  memberOf?: string[];
}

export interface QuerySpec {
  groups: GroupQuery[];
  groupPolicy?: "none" | "isolate";
  /** Suffixes of groups that must share a subtree. */
  sameSubtree?: string[];
  /** 0 or absent = no limit. */
  limit?: number;
}

/** perfload-runner.sh's query (no limit, as it times it). */
export function flatQuery(aggregate: string, limit = 0): QuerySpec {
  return {
    groups: [
      {
        suffix: "",
        resources: { VCPU: 1, DISK_GB: 10, MEMORY_MB: 256 },
        required: ["HW_CPU_X86_AVX2"],
        memberOf: [aggregate],
      },
    ],
    limit,
  };
}

/** perfload-nested-runner.sh's query (no limit). */
export function nestedQuery(): QuerySpec {
  return {
    groups: [
      { suffix: "", resources: { DISK_GB: 10 }, required: ["COMPUTE_VOLUME_MULTI_ATTACH"] },
      { suffix: "COMPUTE", resources: { VCPU: 1, MEMORY_MB: 256 }, required: ["CUSTOM_FOO"] },
      { suffix: "FPGA", resources: { FPGA: 1 } },
    ],
    groupPolicy: "none",
    sameSubtree: ["COMPUTE", "FPGA"],
  };
}

/** `count` one-GPU granular groups that must land on distinct providers, limit 1. */
export function wideQuery(count: number): QuerySpec {
  return {
    groups: Array.from({ length: count }, (_, i) => ({
      suffix: `G${i + 1}`,
      resources: { [GPU_CLASS]: 1 },
    })),
    groupPolicy: "isolate",
    limit: 1,
  };
}

function csv(resources: Record<string, number>): string {
  return Object.entries(resources)
    .map(([rc, n]) => `${rc}:${n}`)
    .join(",");
}

/** The GET /allocation_candidates path for a query. */
export function placementPath(q: QuerySpec): string {
  const params: string[] = [];
  for (const g of q.groups) {
    const s = g.suffix === "" ? "" : `_${g.suffix}`;
    params.push(`resources${s}=${csv(g.resources)}`);
    if (g.required?.length) params.push(`required${s}=${g.required.join(",")}`);
    if (g.memberOf?.length) {
      const v = g.memberOf.length === 1 ? g.memberOf[0] : `in:${g.memberOf.join(",")}`;
      params.push(`member_of${s}=${v}`);
    }
  }
  if (q.groupPolicy) params.push(`group_policy=${q.groupPolicy}`);
  if (q.sameSubtree?.length)
    params.push(`same_subtree=${q.sameSubtree.map((s) => `_${s}`).join(",")}`);
  if (q.limit) params.push(`limit=${q.limit}`);
  return `/allocation_candidates?${params.join("&")}`;
}

/** The same query as Mulligan's ResourceQuery. */
export function mulliganQuery(q: QuerySpec): MessageInitShape<typeof ResourceQuerySchema> {
  return {
    groups: q.groups.map((g) => ({
      suffix: g.suffix,
      resources: Object.fromEntries(Object.entries(g.resources).map(([k, v]) => [k, BigInt(v)])),
      required: g.required ?? [],
      memberOf: g.memberOf?.length ? [{ groups: g.memberOf.map(groupName) }] : [],
    })),
    groupPolicy:
      q.groupPolicy === "isolate"
        ? GroupPolicy.ISOLATE
        : q.groupPolicy === "none"
          ? GroupPolicy.NONE
          : GroupPolicy.UNSPECIFIED,
    sameSubtree: q.sameSubtree?.length ? [{ suffixes: q.sameSubtree }] : [],
    limit: q.limit ?? 0,
  };
}

/**
 * The query flags of `candidates` and `claim-best`, parsed through commander as a command line
 * would be: which command lines give which ResourceQuery, and which are refused with a
 * UsageError (exit 2) before any call is made.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Command } from "commander";
import {
  DistanceConstraint_Relation,
  GroupLevel,
  GroupPolicy,
  type ResourceQuery,
} from "../gen/mulligan/resource/v1/resource_pb.js";
import { UsageError } from "./exit-codes.js";
import { type QueryFlags, queryOf, withQueryFlags } from "./query-flags.js";
import { inventoryOf, resourcesOf, windowOf } from "./resource-values.js";

const C1 = "01a201a2-8020-7b94-8ac1-27df49d2d2e7";
const C2 = "01a201a2-87b6-7dbf-bf03-5240d049291d";

/** Parses `argv` as the flags of a query command and returns the query. */
function parse(argv: string[]): ResourceQuery {
  const cmd = withQueryFlags(
    new Command("q").exitOverride().configureOutput({ writeErr: () => {} }),
  );
  cmd.parse(argv, { from: "user" });
  return queryOf(cmd.opts<QueryFlags>());
}

/** The groups of a query in a compact, comparable form. */
function groupsOf(q: ResourceQuery) {
  return q.groups.map((g) => ({
    suffix: g.suffix,
    resources: Object.fromEntries(Object.entries(g.resources).map(([k, v]) => [k, Number(v)])),
    required: g.required,
    forbidden: g.forbidden,
    anyOf: g.anyOf.map((s) => s.names),
    memberOf: g.memberOf.map((s) => s.groups),
    forbiddenGroups: g.forbiddenGroups,
    inTree: g.inTree,
  }));
}

const plain = {
  suffix: "",
  resources: {},
  required: [],
  forbidden: [],
  anyOf: [],
  memberOf: [],
  forbiddenGroups: [],
  inTree: "",
};

const good: [string, string[], (q: ResourceQuery) => void][] = [
  [
    "resources only",
    ["--resources", "VCPU=2,MEMORY_MB=1024"],
    (q) => {
      assert.deepEqual(groupsOf(q), [{ ...plain, resources: { VCPU: 2, MEMORY_MB: 1024 } }]);
      assert.equal(q.groupPolicy, GroupPolicy.UNSPECIFIED);
      assert.equal(q.limit, 0);
      assert.equal(q.window, undefined);
    },
  ],
  [
    "unnamed group with every filter",
    [
      "--resources=VCPU=1",
      "--required",
      "HW_CPU_X86_AVX2,CUSTOM_FAST",
      "--required",
      "STORAGE_DISK_SSD",
      "--forbidden",
      "CUSTOM_SLOW",
      "--any-of",
      "A,B",
      "--any-of",
      "C",
      "--member-of",
      "g1,g2",
      "--member-of",
      "g3",
      "--forbidden-groups",
      "bad",
      "--in-tree",
      "hv-01",
    ],
    (q) =>
      assert.deepEqual(groupsOf(q), [
        {
          suffix: "",
          resources: { VCPU: 1 },
          required: ["HW_CPU_X86_AVX2", "CUSTOM_FAST", "STORAGE_DISK_SSD"],
          forbidden: ["CUSTOM_SLOW"],
          anyOf: [["A", "B"], ["C"]],
          memberOf: [["g1", "g2"], ["g3"]],
          forbiddenGroups: ["bad"],
          inTree: "hv-01",
        },
      ]),
  ],
  [
    "granular groups, policy and same subtree",
    [
      "--group",
      "COMPUTE:resources=VCPU=2;required=HW_NUMA_ROOT",
      "--group",
      "NIC:resources=CUSTOM_VF=1;any-of=A,B;any-of=C;member-of=g1;in-tree=hv-01",
      "--group-policy",
      "isolate",
      "--same-subtree",
      "COMPUTE,NIC",
      "--root-required",
      "CUSTOM_ROOT",
      "--root-forbidden",
      "CUSTOM_X,CUSTOM_Y",
    ],
    (q) => {
      assert.deepEqual(groupsOf(q), [
        { ...plain, suffix: "COMPUTE", resources: { VCPU: 2 }, required: ["HW_NUMA_ROOT"] },
        {
          ...plain,
          suffix: "NIC",
          resources: { CUSTOM_VF: 1 },
          anyOf: [["A", "B"], ["C"]],
          memberOf: [["g1"]],
          inTree: "hv-01",
        },
      ]);
      assert.equal(q.groupPolicy, GroupPolicy.ISOLATE);
      assert.deepEqual(
        q.sameSubtree.map((s) => s.suffixes),
        [["COMPUTE", "NIC"]],
      );
      assert.deepEqual(q.rootRequired, ["CUSTOM_ROOT"]);
      assert.deepEqual(q.rootForbidden, ["CUSTOM_X", "CUSTOM_Y"]);
    },
  ],
  [
    "resourceless granular group beside an unnamed one",
    ["--resources", "VCPU=1", "--group", "1:required=CUSTOM_A", "--group-policy", "none"],
    (q) => {
      assert.deepEqual(groupsOf(q), [
        { ...plain, resources: { VCPU: 1 } },
        { ...plain, suffix: "1", required: ["CUSTOM_A"] },
      ]);
      assert.equal(q.groupPolicy, GroupPolicy.NONE);
    },
  ],
  [
    "region, limit and window",
    [
      "--resources",
      "VCPU=1",
      "--region",
      "east-1",
      "--limit",
      "5",
      "--window-start",
      "2026-12-01T08:00:00Z",
      "--window-end",
      "2026-12-01T10:00:00+01:00",
    ],
    (q) => {
      assert.equal(q.region, "east-1");
      assert.equal(q.limit, 5);
      assert.ok(q.window?.start && q.window.end);
      assert.equal(timestampDate(q.window.start).toISOString(), "2026-12-01T08:00:00.000Z");
      assert.equal(timestampDate(q.window.end).toISOString(), "2026-12-01T09:00:00.000Z");
    },
  ],
  [
    "window end only",
    ["--resources", "VCPU=1", "--window-end", "2026-12-01T08:00:00.5Z"],
    (q) => {
      assert.equal(q.window?.start, undefined);
      assert.equal(q.window?.end?.nanos, 500_000_000);
    },
  ],
  [
    "distance flags",
    [
      "--resources",
      "VCPU=1",
      "--same-rack-as",
      `${C1},${C2}`,
      "--different-row-from",
      C1,
      "--different-row-from",
      C2,
      "--same-site-as",
      C2,
    ],
    (q) =>
      assert.deepEqual(
        q.distance.map((d) => [d.relation, d.level, d.consumers]),
        [
          [DistanceConstraint_Relation.SAME, GroupLevel.RACK, [C1, C2]],
          [DistanceConstraint_Relation.SAME, GroupLevel.SITE, [C2]],
          [DistanceConstraint_Relation.DIFFERENT, GroupLevel.ROW, [C1, C2]],
        ],
      ),
  ],
];

for (const [name, argv, check] of good) test(`query flags: ${name}`, () => check(parse(argv)));

const bad: [string, string[], RegExp][] = [
  ["no resources at all", ["--required", "CUSTOM_A"], /--resources or a --group/],
  ["nothing", [], /--resources or a --group/],
  ["amount not a number", ["--resources", "VCPU=two"], /non-negative integer/],
  ["amount zero", ["--resources", "VCPU=0"], /at least 1/],
  ["amount negative", ["--resources", "VCPU=-1"], /non-negative integer/],
  ["amount unsafe", ["--resources", "VCPU=9007199254740993"], /non-negative integer/],
  ["class lower-case", ["--resources", "vcpu=1"], /CLASS=AMOUNT/],
  ["pair without =", ["--resources", "VCPU"], /CLASS=AMOUNT/],
  ["class twice", ["--resources", "VCPU=1,VCPU=2"], /twice/],
  ["empty list item", ["--resources", "VCPU=1,"], /empty item/],
  ["capability lower-case", ["--resources", "VCPU=1", "--required", "avx"], /capability name/],
  ["empty any-of", ["--resources", "VCPU=1", "--any-of", ""], /empty item/],
  ["empty in-tree", ["--resources", "VCPU=1", "--in-tree", " "], /in-tree is empty/],
  ["group without clause", ["--group", "G"], /needs ":"/],
  ["group bad suffix", ["--group", "a b:resources=VCPU=1"], /suffix/],
  ["group empty suffix", ["--group", ":resources=VCPU=1"], /suffix/],
  ["group unknown key", ["--group", "G:resource=VCPU=1"], /unknown key "resource"/],
  ["group clause without =", ["--group", "G:resources=VCPU=1;required"], /KEY=VALUE/],
  ["group resources twice", ["--group", "G:resources=VCPU=1;resources=DISK_GB=1"], /twice/],
  ["group bad amount", ["--group", "G:resources=VCPU=x"], /--group G resources VCPU/],
  [
    "group given twice",
    ["--group", "G:resources=VCPU=1", "--group", "G:resources=VCPU=2"],
    /twice/,
  ],
  ["group policy unknown", ["--resources", "VCPU=1", "--group-policy", "spread"], /none, isolate/],
  ["same subtree unknown suffix", ["--group", "G:resources=VCPU=1", "--same-subtree", "G,H"], /H/],
  ["limit not a number", ["--resources", "VCPU=1", "--limit", "ten"], /--limit/],
  ["limit above int32", ["--resources", "VCPU=1", "--limit", "2147483648"], /at most/],
  [
    "window start not RFC 3339",
    ["--resources", "VCPU=1", "--window-start", "tomorrow"],
    /RFC 3339/,
  ],
  [
    "window without zone",
    ["--resources", "VCPU=1", "--window-start", "2026-12-01T08:00:00"],
    /RFC 3339/,
  ],
  [
    "window end before start",
    [
      "--resources",
      "VCPU=1",
      "--window-start",
      "2026-12-01T08:00:00Z",
      "--window-end",
      "2026-12-01T07:00:00Z",
    ],
    /after --window-start/,
  ],
  [
    "empty window",
    [
      "--resources",
      "VCPU=1",
      "--window-start",
      "2026-12-01T08:00:00Z",
      "--window-end",
      "2026-12-01T08:00:00Z",
    ],
    /after --window-start/,
  ],
  ["distance not a UUID", ["--resources", "VCPU=1", "--same-rack-as", "vm-1"], /consumer UUID/],
  ["root capability empty", ["--resources", "VCPU=1", "--root-required", "A,,B"], /empty item/],
];

for (const [name, argv, message] of bad)
  test(`query flags refused: ${name}`, () =>
    assert.throws(
      () => parse(argv),
      (err: unknown) => err instanceof UsageError && message.test(err.message),
    ));

test("resource values: amounts and windows outside the query", () => {
  assert.deepEqual(resourcesOf("VCPU=2, MEMORY_MB=512", "--resources"), {
    VCPU: 2n,
    MEMORY_MB: 512n,
  });
  assert.equal(windowOf({}), undefined);
  assert.throws(() => windowOf({ windowEnd: "2026-13-01T00:00:00Z" }), UsageError);
});

test("inventory values: defaults and every field", () => {
  assert.deepEqual(inventoryOf("VCPU=32"), {
    resourceClass: "VCPU",
    total: 32n,
    reserved: 0n,
    minUnit: 1n,
    maxUnit: 32n,
    stepSize: 1n,
    allocationRatio: 1,
  });
  assert.deepEqual(inventoryOf("MEMORY_MB=4096,reserved=512,min=256,max=2048,step=256,ratio=1.5"), {
    resourceClass: "MEMORY_MB",
    total: 4096n,
    reserved: 512n,
    minUnit: 256n,
    maxUnit: 2048n,
    stepSize: 256n,
    allocationRatio: 1.5,
  });
});

const badInventories: [string, RegExp][] = [
  ["VCPU", /CLASS=TOTAL/],
  ["vcpu=4", /CLASS=TOTAL/],
  ["VCPU=-4", /non-negative integer/],
  ["VCPU=4,reserve=1", /KEY=VALUE/],
  ["VCPU=4,min", /KEY=VALUE/],
  ["VCPU=4,min=1=2", /KEY=VALUE/],
  ["VCPU=4,min=1,min=2", /twice/],
  ["VCPU=4,step=1.5", /non-negative integer/],
  ["VCPU=4,ratio=0", /above 0/],
  ["VCPU=4,ratio=", /above 0/],
  ["VCPU=4,ratio=fast", /above 0/],
];

for (const [text, message] of badInventories)
  test(`inventory refused: ${text}`, () =>
    assert.throws(
      () => inventoryOf(text),
      (err: unknown) => err instanceof UsageError && message.test(err.message),
    ));

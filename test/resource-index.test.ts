/**
 * The fleet index never diverges from the database (DESIGN.md §5). Random sequences of
 * provider, inventory, group, capability and claim changes go over gRPC; then every answer of
 * a fixed list of FindCandidates queries must equal the slow reference evaluation straight from
 * SQL (StoreSnapshotSource + findCandidates), on SQLite and PostgreSQL. A second FleetIndex in
 * the test process follows the same database through the change feed alone and is compared
 * with the reference field by field. On PostgreSQL, two server processes share one database:
 * both converge, concurrent ClaimBest never over-commits, and a claim on one server shows in
 * the other's answers within a bounded lag.
 *
 * The seed is printed in the test names; MULLIGAN_TEST_SEED=N replays a run (operations on
 * one server replay exactly; with two servers the interleaving of concurrent calls varies).
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pino from "pino";
import { ErrorInfoSchema } from "../src/gen/google/rpc/error_details_pb.js";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../src/gen/health/v1/health_pb.js";
import {
  type FindCandidatesResponse,
  ResourceService,
  Weigher,
} from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { newUuid, nowIso } from "../src/platform/ids.js";
import { findCandidates } from "../src/resource/engine/candidates.js";
import type { Snapshot } from "../src/resource/engine/snapshot.js";
import { FleetIndex } from "../src/resource/fleet-index.js";
import { capacityOf, type SearchResult, type Window } from "../src/resource/model.js";
import { StoreSnapshotSource } from "../src/resource/snapshot-loader.js";
import { openStore, type Store } from "../src/store/store.js";
import {
  closedPort,
  type FreshStore,
  forEachStore,
  freshStore,
  startTestServer,
  type TestServer,
} from "./harness.js";
import {
  big,
  buildVocabulary,
  CAPS,
  CLASSES,
  engineQuery,
  GPU,
  grpcQuery,
  HOUR,
  iso,
  PIVOT,
  type QuerySpec,
  type Res,
  SEED,
  type Vocabulary,
  World,
} from "./index-ops.js";

/** Operations per store in the one-server suite, and in the two-server suite. */
const OPERATIONS = 200;
const SHARED_OPERATIONS = 120;
/** Full comparisons happen every this many operations, and at the end. */
const CHECK_EVERY = 40;
const silent = pino({ level: "silent" });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The queries compared after the workload: flat, limited, sharing, granular (none / isolate /
 * same_subtree), capabilities, member_of, unsatisfiable, a reservation window; plus in_tree and
 * distance against a live provider and consumer when there are some.
 */
function querySet(v: Vocabulary, w: World): QuerySpec[] {
  const [a, b, c] = CAPS;
  const vm = { VCPU: 1, MEMORY_MB: 128 };
  const list: QuerySpec[] = [
    { name: "flat", groups: [{ resources: vm }] },
    { name: "flat limit 2", groups: [{ resources: vm }], limit: 2 },
    { name: "vcpu and disk (sharing)", groups: [{ resources: { VCPU: 1, DISK_GB: 10 } }] },
    { name: "sharing disk, limit 1", groups: [{ resources: { DISK_GB: 5 } }], limit: 1 },
    {
      name: "named groups, policy none",
      groups: [
        { suffix: "1", resources: { VCPU: 1 } },
        { suffix: "2", resources: { MEMORY_MB: 128 } },
      ],
      groupPolicy: "none",
    },
    {
      name: "named groups, policy isolate",
      groups: [
        { suffix: "1", resources: { VCPU: 1 } },
        { suffix: "2", resources: { VCPU: 1 } },
      ],
      groupPolicy: "isolate",
    },
    {
      name: "same_subtree",
      groups: [
        { suffix: "cpu", resources: { VCPU: 1 } },
        { suffix: "gpu", resources: { [GPU]: 1 } },
      ],
      groupPolicy: "none",
      sameSubtree: [["cpu", "gpu"]],
    },
    {
      name: "required / forbidden capabilities",
      groups: [{ resources: { VCPU: 1 }, required: [a], forbidden: [b] }],
    },
    {
      name: "any_of, root_forbidden",
      groups: [{ resources: { VCPU: 1 }, anyOf: [[a, c]] }],
      rootForbidden: [b],
    },
    {
      name: "member_of, forbidden group",
      groups: [
        {
          resources: { VCPU: 1 },
          memberOf: [[v.groupUuid("rack1"), v.groupUuid("plain")]],
          forbiddenGroups: [v.groupUuid("rack2")],
        },
      ],
    },
    { name: "unsatisfiable", groups: [{ resources: { VCPU: 100_000 } }] },
    {
      name: "reservation window",
      groups: [{ resources: { VCPU: 2 } }],
      window: { start: iso(PIVOT - HOUR / 2), end: iso(PIVOT + HOUR / 2) },
    },
  ];
  const tree = [...w.providers].sort()[0];
  if (tree) list.push({ name: "in_tree", groups: [{ resources: { VCPU: 1 }, inTree: tree }] });
  const consumers = [...w.consumers].sort().slice(0, 2);
  if (consumers.length > 0)
    list.push({
      name: "distance: different rack",
      groups: [{ resources: { VCPU: 1 } }],
      distance: [{ relation: "different", level: "rack", consumers }],
    });
  return list;
}

// ---- answers in one comparable form ----

interface Answer {
  candidates: string[];
  summaries: string[];
  explanation: string;
}

function wireAnswer(r: FindCandidatesResponse): Answer {
  return {
    candidates: r.candidates.map((c) =>
      JSON.stringify({
        allocations: c.allocations.map((a) => [
          a.providerUuid,
          Object.entries(a.resources)
            .map(([cls, n]) => [cls, Number(n)])
            .sort(),
        ]),
        mappings: c.mappings.map((m) => [m.suffix, m.providerUuids]),
      }),
    ),
    summaries: r.providerSummaries
      .map((s) =>
        JSON.stringify([
          s.providerUuid,
          s.providerName,
          s.parentUuid,
          s.rootUuid,
          s.resources.map((x) => [x.resourceClass, Number(x.capacity), Number(x.used)]).sort(),
          [...s.capabilities].sort(),
        ]),
      )
      .sort(),
    explanation: r.explanation
      ? JSON.stringify([
          r.explanation.summary,
          r.explanation.steps.map((s) => [s.constraint, s.suffix, s.before, s.after, s.detail]),
        ])
      : "",
  };
}

function engineAnswer(r: SearchResult): Answer {
  return {
    candidates: r.candidates.map((c) =>
      JSON.stringify({
        allocations: [...c.allocations].map(([uuid, res]) => [
          uuid,
          Object.entries(res)
            .map(([cls, n]) => [cls, n])
            .sort(),
        ]),
        mappings: [...c.mappings].map(([suffix, list]) => [suffix, list]),
      }),
    ),
    summaries: r.summaries
      .map((s) =>
        JSON.stringify([
          s.uuid,
          s.name,
          s.parentUuid ?? "",
          s.rootUuid,
          s.resources.map((x) => [x.resourceClass, x.capacity, x.used]).sort(),
          [...s.capabilities].sort(),
        ]),
      )
      .sort(),
    explanation: r.explanation
      ? JSON.stringify([
          r.explanation.summary,
          r.explanation.steps.map((s) => [s.constraint, s.suffix, s.before, s.after, s.detail]),
        ])
      : "",
  };
}

/** One server answering the queries. */
interface Target {
  label: string;
  res: Res;
}

/**
 * Every query on every target against the reference (one store snapshot taken after the
 * answers: callers compare only while nothing writes). Returns one report per mismatch.
 */
async function compareQueries(
  store: Store,
  targets: readonly Target[],
  specs: readonly QuerySpec[],
): Promise<string[]> {
  const answers: { target: Target; spec: QuerySpec; start: string; got: Answer }[] = [];
  for (const spec of specs)
    for (const target of targets) {
      const start = nowIso();
      const got = wireAnswer(await target.res.findCandidates({ query: grpcQuery(spec) }));
      answers.push({ target, spec, start, got });
    }
  const snap = await new StoreSnapshotSource(store).snapshot();
  const mismatches: string[] = [];
  for (const { target, spec, start, got } of answers) {
    const want = engineAnswer(findCandidates(snap, engineQuery(spec, start)));
    if (JSON.stringify(got) !== JSON.stringify(want))
      mismatches.push(
        `${target.label}: query "${spec.name}" ${JSON.stringify(grpcQuery(spec), big)}\n` +
          `  index (gRPC):\n${render(got)}\n  reference:\n${render(want)}`,
      );
  }
  return mismatches;
}

/** An answer one line per candidate and summary, for failure messages. */
function render(a: Answer): string {
  return [
    ...a.candidates.map((c) => `    candidate ${c}`),
    ...a.summaries.map((s) => `    summary ${s}`),
    ...(a.explanation ? [`    explanation ${a.explanation}`] : []),
  ].join("\n");
}

// ---- the index itself against the reference snapshot ----

function providerView(s: Snapshot, uuid: string): string {
  const p = s.providers.get(uuid);
  if (!p) return "missing";
  // The generation is left out: a usage change re-reads allocations only, and no answer shows it.
  return JSON.stringify([
    p.name,
    p.regionUuid,
    p.parentUuid,
    p.rootUuid,
    [...p.capabilities].sort(),
    [...p.groups].sort(),
    [...p.inventories.values()].sort((x, y) => (x.resourceClass < y.resourceClass ? -1 : 1)),
  ]);
}

/**
 * Differences between a FleetIndex and the reference snapshot in everything a search reads:
 * providers, tree links, the groups in use and their members, order by name, usage over two
 * windows, and which providers each consumer holds.
 */
function indexDiff(
  index: FleetIndex,
  ref: Snapshot,
  consumers: Iterable<string>,
  latestEnd: string | null,
): string[] {
  const out: string[] = [];
  // Kept searches trust it: it must never be below the end of an allocation held.
  if (latestEnd !== null && (index.latestEnd === null || index.latestEnd < latestEnd))
    out.push(`latest end: index ${index.latestEnd}, an allocation ends ${latestEnd}`);
  const uuids = new Set([...index.providers.keys(), ...ref.providers.keys()]);
  const windows: Window[] = [
    { start: nowIso(), end: null },
    { start: iso(PIVOT - HOUR / 2), end: iso(PIVOT + HOUR / 2) },
  ];
  const groupsInUse = new Set<string>();
  for (const uuid of uuids) {
    const mine = providerView(index, uuid);
    const theirs = providerView(ref, uuid);
    if (mine !== theirs) out.push(`provider ${uuid}: index ${mine}, reference ${theirs}`);
    const kids = (s: Snapshot) => JSON.stringify([...(s.children.get(uuid) ?? [])].sort());
    if (kids(index) !== kids(ref))
      out.push(`children of ${uuid}: index ${kids(index)}, reference ${kids(ref)}`);
    for (const g of ref.providers.get(uuid)?.groups ?? []) groupsInUse.add(g);
    for (const cls of CLASSES)
      for (const w of windows) {
        const a = index.used(uuid, cls, w);
        const b = ref.used(uuid, cls, w);
        if (a !== b)
          out.push(`used ${uuid} ${cls} ${JSON.stringify(w)}: index ${a}, reference ${b}`);
      }
  }
  for (const g of groupsInUse) {
    const a = JSON.stringify(index.groups.get(g));
    const b = JSON.stringify(ref.groups.get(g));
    if (a !== b) out.push(`group ${g}: index ${a}, reference ${b}`);
    const ma = JSON.stringify([...index.members(g)].sort());
    const mb = JSON.stringify([...ref.members(g)].sort());
    if (ma !== mb) out.push(`members of ${g}: index ${ma}, reference ${mb}`);
  }
  const order = (s: Snapshot) => JSON.stringify(s.providersByName());
  if (order(index) !== order(ref))
    out.push(`order by name: index ${order(index)}, reference ${order(ref)}`);
  for (const c of consumers) {
    const a = JSON.stringify([...index.consumerProviders(c)].sort());
    const b = JSON.stringify([...ref.consumerProviders(c)].sort());
    if (a !== b) out.push(`consumer ${c}: index ${a}, reference ${b}`);
  }
  return out;
}

/** The latest window end of the allocations stored (null: all open-ended). */
async function latestEnd(store: Store): Promise<string | null> {
  const row = await store.db
    .selectFrom("resource_allocations")
    .select((eb) => eb.fn.max("window_end").as("end"))
    .where("window_end", "<>", "")
    .executeTakeFirst();
  return row?.end ? String(row.end) : null;
}

// ---- the over-commit audit ----

/**
 * Every live allocation summed per provider and class, straight from SQL, against the
 * capacity of its inventory. All reservations contain PIVOT and every other claim is
 * open-ended, so the sum is the peak usage: it must never exceed the capacity.
 */
async function overCommits(store: Store): Promise<string[]> {
  const now = nowIso();
  const sums = await store.db
    .selectFrom("resource_allocations")
    .select(["provider_uuid", "resource_class", (eb) => eb.fn.sum("amount").as("used")])
    .where((eb) => eb.or([eb("window_end", "=", ""), eb("window_end", ">", now)]))
    .groupBy(["provider_uuid", "resource_class"])
    .execute();
  const inventories = await store.db.selectFrom("resource_inventories").selectAll().execute();
  const out: string[] = [];
  for (const s of sums) {
    const inv = inventories.find(
      (i) => i.provider_uuid === s.provider_uuid && i.resource_class === s.resource_class,
    );
    const capacity = inv
      ? capacityOf({
          resourceClass: inv.resource_class,
          total: Number(inv.total),
          reserved: Number(inv.reserved),
          minUnit: Number(inv.min_unit),
          maxUnit: Number(inv.max_unit),
          stepSize: Number(inv.step_size),
          allocationRatio: Number(inv.allocation_ratio),
        })
      : 0;
    if (Number(s.used) > capacity)
      out.push(`${s.provider_uuid} ${s.resource_class}: ${s.used} allocated, capacity ${capacity}`);
  }
  return out;
}

/** Polls `check` (an empty list = done) until it passes or `ms` elapse; returns the last list. */
async function eventually(ms: number, check: () => Promise<string[]>): Promise<string[]> {
  const end = Date.now() + ms;
  for (;;) {
    const problems = await check();
    if (problems.length === 0 || Date.now() > end) return problems;
    await sleep(50);
  }
}

function failWith(what: string, problems: readonly string[], world: World): void {
  if (problems.length === 0) return;
  assert.fail(
    `${what} (seed ${SEED}):\n${problems.slice(0, 3).join("\n")}\n` +
      `${problems.length} difference(s); last operations:\n${world.tail()}`,
  );
}

forEachStore("fleet index follows the database", (server) => {
  test(`${OPERATIONS} random operations: the index always answers as the database (seed ${SEED})`, async (t) => {
    const s = server();
    const res = s.client(ResourceService);
    const reference = await openStore(s.storeUrl);
    // A replica-like index: it learns every change from the feed only (NOTIFY or poll).
    const follower = new FleetIndex({ store: reference, logger: silent });
    await follower.start();
    try {
      const vocabulary = await buildVocabulary(s, "idx");
      const world = new World({ seed: SEED, vocabulary, inventories: "free", maxProviders: 14 });
      const targets: Target[] = [{ label: "server", res }];

      const checkAll = async (when: string) => {
        // The server's own commits were re-read before each call returned: exact, no waiting.
        failWith(
          `FindCandidates diverged from the reference ${when}`,
          await compareQueries(reference, targets, querySet(vocabulary, world)),
          world,
        );
        const problems = await eventually(5000, async () => {
          await follower.follow();
          const snap = await new StoreSnapshotSource(reference).snapshot();
          return indexDiff(follower, snap, world.consumers, await latestEnd(reference));
        });
        failWith(`the following index did not converge ${when}`, problems, world);
      };

      for (let i = 1; i <= OPERATIONS; i++) {
        const op = await world.step(res, "server");
        if (op === "reshape" || world.chance(0.2)) {
          // Right after the call: the server must already answer with what it just wrote.
          const specs = querySet(vocabulary, world);
          const k = world.int(0, specs.length - 1);
          failWith(
            `FindCandidates right after ${op} (operation ${i}) diverged`,
            await compareQueries(
              reference,
              targets,
              op === "reshape" ? specs : specs.slice(k, k + 1),
            ),
            world,
          );
        }
        if (i % CHECK_EVERY === 0) await checkAll(`after ${i} operations`);
      }
      await checkAll("at the end");
      // An index built at start from the populated store (the bulk load) is the same.
      const rebuilt = new FleetIndex({ store: reference, logger: silent });
      await rebuilt.start();
      try {
        const snap = await new StoreSnapshotSource(reference).snapshot();
        failWith(
          "an index built at start differs from the reference",
          indexDiff(rebuilt, snap, world.consumers, await latestEnd(reference)),
          world,
        );
      } finally {
        await rebuilt.close();
      }
      t.diagnostic(
        `providers ${world.providers.size}, consumers ${world.consumers.size}, index rounds ${follower.rounds}`,
      );
      t.diagnostic(
        [...world.outcomes]
          .sort()
          .map(([k, n]) => `${k}: ${n}`)
          .join("; "),
      );
    } finally {
      await follower.close();
      await reference.close();
    }
  });
});

/** `mulligan serve` as a child process on `databaseUrl`, listening on a free loopback port. */
async function spawnServer(databaseUrl: string): Promise<{
  url: string;
  child: ChildProcess;
  dataDir: string;
}> {
  const port = await closedPort();
  const dataDir = mkdtempSync(join(tmpdir(), "mulligan-index-"));
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("MULLIGAN_")),
  );
  const child = spawn(
    process.execPath,
    [
      join(import.meta.dirname, "..", "bin", "mulligan.mjs"),
      "serve",
      "--listen",
      `127.0.0.1:${port}`,
      "--data-dir",
      dataDir,
      "--database",
      databaseUrl,
      "--log-level",
      "warn",
    ],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => (output += d));
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (output += d));
  const url = `http://127.0.0.1:${port}`;
  const health = createClient(Health, createGrpcTransport({ baseUrl: url }));
  const end = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`second server exited: ${output}`);
    try {
      if ((await health.check({ service: "" })).status === ServingStatus.SERVING) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > end) throw new Error(`second server never served: ${output}`);
    await sleep(100);
  }
  return { url, child, dataDir };
}

function resourceClient(url: string, token: string): Client<typeof ResourceService> {
  return createClient(
    ResourceService,
    createGrpcTransport({
      baseUrl: url,
      interceptors: [
        (next) => (req) => {
          req.header.set("authorization", `Bearer ${token}`);
          return next(req);
        },
      ],
    }),
  );
}

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (err) {
    const e = ConnectError.from(err);
    return `${Code[e.code]}:${e.findDetails(ErrorInfoSchema)[0]?.reason ?? "?"}`;
  }
}

describe("fleet index: two server processes on one PostgreSQL database", () => {
  let db: FreshStore | undefined;
  let first: TestServer | undefined;
  let second: Awaited<ReturnType<typeof spawnServer>> | undefined;
  let reference: Store | undefined;
  let targets: Target[] = [];

  before(async () => {
    db = await freshStore("postgres");
    // The first server runs in this process and bootstraps; its admin token serves both.
    first = await startTestServer(db.url);
    second = await spawnServer(db.url);
    reference = await openStore(db.url);
    targets = [
      { label: "server 1", res: first.client(ResourceService) },
      // Signing keys live in the shared database: the first server's token works here too.
      { label: "server 2", res: resourceClient(second.url, first.admin.token) },
    ];
  });

  after(async () => {
    if (second) {
      const { child } = second;
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(second.dataDir, { recursive: true, force: true });
    }
    await reference?.close();
    await first?.stop();
    await db?.drop();
  });

  function ready() {
    assert.ok(first && second && reference, "servers not started");
    return { first, second, reference };
  }

  test(`random operations spread over both servers converge on both (seed ${SEED})`, async (t) => {
    const { first, reference } = ready();
    const vocabulary = await buildVocabulary(first, "two");
    const world = new World({ seed: SEED, vocabulary, inventories: "grow", maxProviders: 16 });
    for (let done = 0; done < SHARED_OPERATIONS; ) {
      // A few operations at once, each on a random server, so commits of both interleave.
      const batch = world.int(1, 4);
      await Promise.all(
        Array.from({ length: batch }, () => {
          const target = world.pick(targets) ?? targets[0];
          assert.ok(target);
          return world.step(target.res, target.label);
        }),
      );
      done += batch;
      if (done % CHECK_EVERY < batch || done >= SHARED_OPERATIONS) {
        const mismatches = await eventually(5000, () =>
          compareQueries(reference, targets, querySet(vocabulary, world)),
        );
        failWith(`the servers did not converge after ${done} operations`, mismatches, world);
      }
    }
    failWith("over-commit found by the SQL audit", await overCommits(reference), world);
    t.diagnostic(
      [...world.outcomes]
        .sort()
        .map(([k, n]) => `${k}: ${n}`)
        .join("; "),
    );
  });

  test("concurrent ClaimBest from both servers fills a small fleet exactly, never over", async (t) => {
    const { first, reference } = ready();
    const res = first.client(ResourceService);
    const region = (await first.meta().createRegion({ name: "storm" })).region?.name ?? "";
    for (const total of [4n, 3n, 3n]) {
      const p = (await res.createProvider({ name: `storm-${total}-${newUuid()}`, region }))
        .provider;
      assert.ok(p);
      await res.setInventories({
        provider: p.uuid,
        generation: p.generation,
        inventories: [{ resourceClass: "VCPU", total }],
      });
    }
    const query = { groups: [{ resources: { VCPU: 1n } }], region };
    const weighers = [Weigher.PACK, Weigher.SPREAD, Weigher.RANDOM_TOP_K];
    const tally: Record<string, number> = {};
    let rounds = 0;
    while ((tally.ok ?? 0) < 10 && rounds < 10) {
      rounds++;
      const results = await Promise.all(
        Array.from({ length: 16 }, (_, i) =>
          outcome(
            (targets[i % 2] ?? assert.fail()).res.claimBest({
              query,
              weigher: weighers[i % 3] ?? Weigher.PACK,
            }),
          ),
        ),
      );
      for (const r of results) tally[r] = (tally[r] ?? 0) + 1;
      assert.deepEqual(
        Object.keys(tally).filter((k) => k !== "ok" && k !== "ResourceExhausted:NO_CANDIDATES"),
        [],
        `only successes and NO_CANDIDATES: ${JSON.stringify(tally)}`,
      );
    }
    assert.equal(tally.ok, 10, `exactly the capacity is claimed: ${JSON.stringify(tally)}`);
    assert.deepEqual(await overCommits(reference), []);
    const full = await eventually(5000, async () => {
      const answers = await Promise.all(targets.map((x) => x.res.findCandidates({ query })));
      return answers.flatMap((a, i) =>
        a.candidates.length > 0 ? [`${targets[i]?.label} still finds ${a.candidates.length}`] : [],
      );
    });
    assert.deepEqual(full, [], "both servers see the fleet full");
    t.diagnostic(`${rounds} round(s) of 16: ${JSON.stringify(tally)}`);
  });

  test("a claim on one server shows in the other's answers within 2 s", async (t) => {
    const { first } = ready();
    const res = first.client(ResourceService);
    const region = (await first.meta().createRegion({ name: "lag" })).region?.name ?? "";
    const p = (await res.createProvider({ name: `lag-${newUuid()}`, region })).provider;
    assert.ok(p);
    await res.setInventories({
      provider: p.uuid,
      generation: p.generation,
      inventories: [{ resourceClass: "VCPU", total: 1n }],
    });
    const query = { groups: [{ resources: { VCPU: 1n } }], region };
    const lags: number[] = [];
    /** Writes, then polls `reader` until it finds `expect` candidates. */
    const lag = async (reader: Res, write: () => Promise<unknown>, expect: number) => {
      await write();
      const start = performance.now();
      for (;;) {
        const found = await reader.findCandidates({ query });
        if (found.candidates.length === expect) break;
        assert.ok(
          performance.now() - start < 2000,
          "the other server still answers stale after 2 s",
        );
        await sleep(2);
      }
      lags.push(performance.now() - start);
    };
    for (let i = 0; i < 6; i++) {
      const [writer, reader] = i % 2 === 0 ? targets : [...targets].reverse();
      assert.ok(writer && reader);
      const consumer = newUuid();
      await lag(
        reader.res,
        () =>
          writer.res.claim({
            consumer,
            allocations: [{ provider: p.uuid, resources: { VCPU: 1n } }],
          }),
        0,
      );
      await lag(reader.res, () => writer.res.release({ consumer }), 1);
    }
    const worst = Math.max(...lags);
    assert.ok(worst < 2000, `worst lag ${worst.toFixed(0)} ms`);
    t.diagnostic(
      `lags (ms): ${lags.map((l) => l.toFixed(0)).join(", ")}; worst ${worst.toFixed(0)}`,
    );
  });
});

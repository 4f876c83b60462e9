/**
 * The resource commands of the `mulligan` executable, spawned for real against a bootstrapped
 * server on both stores: resource classes, capabilities, groups, providers and their trees,
 * inventories, candidates (with the explanation when nothing fits), claims with windows,
 * claim-best's weighers, usage, quotas and reservations. Tables are read cell by cell, JSON
 * where the content is long; exit codes and error lines are asserted. Fixtures the commands do
 * not cover are made over gRPC, and after-effects are checked there.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { Visibility } from "../src/gen/mulligan/meta/v1/meta_pb.js";
import { ResourceService } from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { exits, mulligan, type Run } from "./cli-helpers.js";
import { expectGrpcError, forEachStore } from "./harness.js";

type Json = Record<string, unknown>;

/** The run's stdout as JSON, after asserting it succeeded. */
function json<T = Json>(run: Run): T {
  exits(run, 0);
  return JSON.parse(run.stdout) as T;
}

/** The cells of every table row of a successful run's stdout (borders dropped, trimmed). */
function rows(run: Run): string[][] {
  exits(run, 0);
  return run.stdout
    .split("\n")
    .filter((line) => line.startsWith("│"))
    .map((line) =>
      line
        .split("│")
        .slice(1, -1)
        .map((cell) => cell.trim()),
    );
}

/** A key/value table as key → value; continuation lines (empty key) join with "\n". */
function pairs(run: Run): Map<string, string> {
  const out = new Map<string, string>();
  let last = "";
  for (const [key = "", value = ""] of rows(run)) {
    if (key !== "") last = key;
    out.set(last, key === "" ? `${out.get(last)}\n${value}` : value);
  }
  return out;
}

/** Asserts a failed run: the exit code, one error line matching `line`, nothing on stdout. */
function fails(run: Run, code: number, line: RegExp): void {
  exits(run, code);
  assert.match(run.stderr, line);
  assert.equal(run.stderr.split("\n").length, 2, `one line: ${run.stderr}`);
  assert.equal(run.stdout, "");
}

/** An RFC 3339 time `days` from now, in whole seconds (how the CLI prints it back). */
function future(days: number): string {
  const t = Math.floor(Date.now() / 1000) * 1000 + days * 86_400_000;
  return new Date(t).toISOString().replace(".000Z", "Z");
}

forEachStore("mulligan resource commands", (srv) => {
  const config = mkdtempSync(join(tmpdir(), "mulligan-cli-"));
  /** Runs a command as the bootstrap admin, server and token given as flags. */
  const cli = (...args: string[]) =>
    mulligan(config, ["--server", srv().url, "--token", srv().admin.token, ...args]);
  const res = () => srv().client(ResourceService);

  before(async () => {
    // Bootstrap over gRPC makes no region (the CLI's bootstrap does).
    for (const name of ["cli-rg", "cli-best"])
      await srv().meta().createRegion({ name, visibility: Visibility.EXTERNAL });
    await srv().iam().createProject({ name: "cli-quota" });
    // Two hosts for claim-best, best-a already half full: pack picks it, spread the other.
    for (const name of ["best-a", "best-b"]) {
      const { provider } = await res().createProvider({ name, region: "cli-best" });
      await res().setInventories({
        provider: name,
        generation: provider?.generation ?? 0n,
        inventories: [{ resourceClass: "VCPU", total: 8n, maxUnit: 8n, minUnit: 1n, stepSize: 1n }],
      });
    }
    await res().claim({
      consumer: randomUUID(),
      allocations: [{ provider: "best-a", resources: { VCPU: 4n } }],
    });
  });
  after(() => rmSync(config, { recursive: true, force: true }));

  it("resource-class create / list / delete", async () => {
    const created = pairs(await cli("resource-class", "create", "CUSTOM_CLI_FPGA"));
    assert.deepEqual(
      [...created],
      [
        ["name", "CUSTOM_CLI_FPGA"],
        ["standard", "no"],
      ],
    );
    const list = json<Json[]>(await cli("resource-class", "list", "-o", "json"));
    assert.deepEqual(
      list.find((c) => c.name === "CUSTOM_CLI_FPGA"),
      { name: "CUSTOM_CLI_FPGA", standard: false },
    );
    assert.deepEqual(
      list.find((c) => c.name === "VCPU"),
      { name: "VCPU", standard: true },
    );
    const deleted = await cli("resource-class", "delete", "CUSTOM_CLI_FPGA");
    exits(deleted, 0);
    assert.equal(deleted.stdout, "deleted resource class CUSTOM_CLI_FPGA\n");
    const { resourceClasses } = await res().listResourceClasses({ pageSize: 500 });
    assert.ok(!resourceClasses.some((c) => c.name === "CUSTOM_CLI_FPGA"));
  });

  it("capability create / list", async () => {
    exits(await cli("capability", "create", "CUSTOM_CLI_GOLD"), 0);
    const list = json<Json[]>(
      await cli("capability", "list", "--prefix", "CUSTOM_CLI", "-o", "json"),
    );
    assert.deepEqual(list, [{ name: "CUSTOM_CLI_GOLD", standard: false }]);
  });

  it("group create / list", async () => {
    const rack = json(await cli("group", "create", "cli-rack-1", "--level", "rack", "-o", "json"));
    assert.equal(rack.level, "GROUP_LEVEL_RACK");
    const shared = pairs(await cli("group", "create", "cli-shared"));
    assert.equal(shared.get("name"), "cli-shared");
    assert.equal(shared.get("level"), "");
    const list = rows(await cli("group", "list"));
    assert.deepEqual(
      list.map((r) => r.slice(0, 2)),
      [
        ["NAME", "LEVEL"],
        ["cli-rack-1", "rack"],
        ["cli-shared", ""],
      ],
    );
    assert.equal(list[1]?.[3], rack.uuid);
  });

  it("provider create / capability set / group set / list / show / update / delete", async () => {
    const root = json(await cli("provider", "create", "hv-1", "--region", "cli-rg", "-o", "json"));
    assert.deepEqual(
      [root.name, root.regionName, root.parentName, root.rootName, root.generation],
      ["hv-1", "cli-rg", "", "hv-1", "0"],
    );
    const child = pairs(await cli("provider", "create", "hv-1-numa0", "--parent", "hv-1"));
    assert.deepEqual(
      ["region", "parent", "root"].map((k) => child.get(k)),
      ["cli-rg", "hv-1", "hv-1"],
    );
    await res().createProvider({ name: "hv-1-tmp", parent: "hv-1" });

    const caps = json(
      await cli("capability", "set", "hv-1", "HW_CPU_X86_AVX2", "CUSTOM_CLI_GOLD", "-o", "json"),
    );
    assert.deepEqual(caps.capabilities, ["CUSTOM_CLI_GOLD", "HW_CPU_X86_AVX2"]);
    assert.equal(caps.generation, "1");
    const grouped = pairs(await cli("group", "set", "hv-1", "cli-rack-1", "cli-shared"));
    assert.equal(grouped.get("groups"), "cli-rack-1\ncli-shared");
    assert.equal(grouped.get("generation"), "2");

    const list = json<Json[]>(await cli("provider", "list", "--region", "cli-rg", "-o", "json"));
    assert.deepEqual(
      list.map((p) => [p.name, p.parentName, p.rootUuid]),
      [
        ["hv-1", "", root.uuid],
        ["hv-1-numa0", "hv-1", root.uuid],
        ["hv-1-tmp", "hv-1", root.uuid],
      ],
    );
    const shown = pairs(await cli("provider", "show", String(root.uuid)));
    assert.deepEqual(
      ["name", "capabilities", "groups"].map((k) => shown.get(k)),
      ["hv-1", "CUSTOM_CLI_GOLD\nHW_CPU_X86_AVX2", "cli-rack-1\ncli-shared"],
    );

    const renamed = json(
      await cli("provider", "update", "hv-1-tmp", "--name", "hv-1-spare", "-o", "json"),
    );
    assert.deepEqual([renamed.name, renamed.parentName], ["hv-1-spare", "hv-1"]);

    fails(await cli("provider", "delete", "hv-1"), 7, /FAILED_PRECONDITION PROVIDER_HAS_CHILDREN/);
    const deleted = await cli("provider", "delete", "hv-1-spare");
    exits(deleted, 0);
    assert.equal(deleted.stdout, "deleted provider hv-1-spare\n");
    await expectGrpcError(
      res().getProvider({ provider: String(renamed.uuid) }),
      Code.NotFound,
      "PROVIDER_NOT_FOUND",
    );
  });

  it("inventory set / show and provider tree", async () => {
    const set = await cli(
      "inventory",
      "set",
      "hv-1-numa0",
      "VCPU=16,ratio=2",
      "MEMORY_MB=8192,reserved=512",
    );
    assert.deepEqual(rows(set), [
      ["CLASS", "TOTAL", "RESERVED", "MIN", "MAX", "STEP", "RATIO", "CAPACITY", "USED"],
      ["MEMORY_MB", "8192", "512", "1", "8192", "1", "1", "7680", "0"],
      ["VCPU", "16", "0", "1", "16", "1", "2", "32", "0"],
    ]);
    assert.match(set.stdout, /\ngeneration 1\n$/);
    assert.equal(set.stderr, "");

    const shown = json(await cli("inventory", "show", "hv-1-numa0", "-o", "json"));
    assert.equal(shown.generation, "1");
    assert.deepEqual(
      (shown.inventories as Json[]).map((i) => [i.resourceClass, i.capacity, i.used]),
      [
        ["MEMORY_MB", "7680", "0"],
        ["VCPU", "32", "0"],
      ],
    );

    const { provider } = await res().createProvider({ name: "hv-1-numa1", parent: "hv-1" });
    await res().setInventories({
      provider: "hv-1-numa1",
      generation: provider?.generation ?? 0n,
      inventories: [
        { resourceClass: "VCPU", total: 8n, minUnit: 1n, maxUnit: 8n, stepSize: 1n },
        { resourceClass: "MEMORY_MB", total: 4096n, minUnit: 1n, maxUnit: 4096n, stepSize: 1n },
      ],
    });
    const tree = await cli("provider", "tree", "hv-1");
    exits(tree, 0);
    assert.deepEqual(tree.stdout.split("\n"), [
      "hv-1  [CUSTOM_CLI_GOLD, HW_CPU_X86_AVX2]",
      "├─ hv-1-numa0  MEMORY_MB 0/7680, VCPU 0/32",
      "└─ hv-1-numa1  MEMORY_MB 0/4096, VCPU 0/8",
      "",
    ]);
  });

  it("candidates: a table, JSON, and the explanation when nothing fits", async () => {
    // The root hv-1 has the capability; each NUMA node alone serves the granular group.
    const granular = rows(
      await cli(
        "candidates",
        "--region",
        "cli-rg",
        "--group",
        "NUMA:resources=VCPU=2,MEMORY_MB=1024",
        "--root-required",
        "CUSTOM_CLI_GOLD",
      ),
    );
    assert.deepEqual(granular, [
      ["#", "ALLOCATIONS", "GROUPS"],
      ["1", "hv-1-numa0: MEMORY_MB=1024, VCPU=2", "NUMA → hv-1-numa0"],
      ["2", "hv-1-numa1: MEMORY_MB=1024, VCPU=2", "NUMA → hv-1-numa1"],
    ]);

    // Only numa0 has 6000 MB free (numa1 has 4096), so both classes come from it.
    const found = json<{ candidates: Json[]; providerSummaries: Json[] }>(
      await cli(
        "candidates",
        "--region",
        "cli-rg",
        "--resources",
        "VCPU=12,MEMORY_MB=6000",
        "-o",
        "json",
      ),
    );
    assert.deepEqual(
      found.candidates.map((c) => c.allocations),
      [
        [
          {
            providerUuid: (await res().getProvider({ provider: "hv-1-numa0" })).provider?.uuid,
            providerName: "hv-1-numa0",
            resources: { MEMORY_MB: "6000", VCPU: "12" },
          },
        ],
      ],
    );
    assert.deepEqual(found.providerSummaries.map((s) => s.providerName).sort(), [
      "hv-1",
      "hv-1-numa0",
      "hv-1-numa1",
    ]);

    const none = await cli("candidates", "--region", "cli-rg", "--resources", "VCPU=100");
    exits(none, 0);
    assert.match(none.stdout, /^no candidates: no provider has 100 free VCPU/);
    const steps = rows(none);
    assert.deepEqual(steps[0], ["CONSTRAINT", "GROUP", "BEFORE", "AFTER", "WHY EMPTY"]);
    assert.deepEqual(steps[1], ["region", "", "5", "3", ""]);
    assert.deepEqual(
      steps.find((s) => s[0] === "resources"),
      ["resources", "", "3", "0", "no provider has 100 free VCPU"],
    );
  });

  it("claim with a window / allocations / reservation list / release", async () => {
    const consumer = randomUUID();
    const [start, end] = [future(10), future(11)];
    const claimed = pairs(
      await cli(
        "claim",
        consumer,
        "--provider",
        "hv-1-numa0",
        "--resources",
        "VCPU=8,MEMORY_MB=1024",
        "--window-start",
        start,
        "--window-end",
        end,
        "--consumer-type",
        "INSTANCE",
      ),
    );
    assert.deepEqual(
      ["consumer", "type", "generation", "window", "allocations"].map((k) => claimed.get(k)),
      [consumer, "INSTANCE", "1", `${start} → ${end}`, "hv-1-numa0: MEMORY_MB=1024, VCPU=8"],
    );

    const held = json<{ consumer: Json; allocations: Json[] }>(
      await cli("allocations", consumer, "-o", "json"),
    );
    assert.deepEqual(held.consumer.window, { start, end });
    assert.deepEqual(
      held.allocations.map((a) => [a.providerName, a.resources]),
      [["hv-1-numa0", { MEMORY_MB: "1024", VCPU: "8" }]],
    );

    const reservations = rows(await cli("reservation", "list", "hv-1-numa0"));
    assert.deepEqual(reservations, [
      ["CONSUMER", "PROJECT", "TYPE", "START", "END", "RESOURCES"],
      [
        consumer,
        String(held.consumer.projectUuid),
        "INSTANCE",
        start,
        end,
        "MEMORY_MB=1024, VCPU=8",
      ],
    ]);

    const released = await cli("release", consumer);
    exits(released, 0);
    assert.equal(released.stdout, `released consumer ${consumer}\n`);
    const left = await res().listProviderAllocations({ provider: "hv-1-numa0" });
    assert.deepEqual(left.allocations, []);
  });

  it("claim-best with pack and spread, no candidate, and an over-capacity warning", async () => {
    const best = (weigher: string, consumer: string, ...rest: string[]) =>
      cli(
        "claim-best",
        consumer,
        "--region",
        "cli-best",
        "--resources",
        "VCPU=2",
        "--weigher",
        weigher,
        ...rest,
      );
    const packed = json<{ allocations: Json[]; attempts: number }>(
      await best("pack", randomUUID(), "-o", "json"),
    );
    assert.deepEqual(
      packed.allocations.map((a) => [a.providerName, a.resources]),
      [["best-a", { VCPU: "2" }]],
    );
    assert.equal(packed.attempts, 1);
    const spread = pairs(await best("spread", randomUUID()));
    assert.deepEqual(
      ["allocations", "attempts"].map((k) => spread.get(k)),
      ["best-b: VCPU=2", "1"],
    );
    fails(
      await cli("claim-best", randomUUID(), "--region", "cli-best", "--resources", "VCPU=9"),
      8,
      /^error: RESOURCE_EXHAUSTED NO_CANDIDATES: no provider has 9 free VCPU/,
    );

    // best-a holds 6 of 8 VCPU; shrinking it to 4 is allowed and reported.
    const shrunk = await cli("inventory", "set", "best-a", "VCPU=4");
    assert.deepEqual(rows(shrunk)[1], ["VCPU", "4", "0", "1", "4", "1", "1", "4", "6"]);
    assert.equal(shrunk.stderr, "warning: VCPU is over capacity: 6 used of 4\n");
  });

  it("usage, quota set / show, and a claim over the quota", async () => {
    const claim = (vcpu: number) =>
      cli(
        "claim",
        randomUUID(),
        "--project",
        "cli-quota",
        "--provider",
        "hv-1-numa1",
        "--resources",
        `VCPU=${vcpu}`,
      );
    exits(await claim(2), 0);
    const quota = json(await cli("quota", "set", "cli-quota", "VCPU", "4", "-o", "json"));
    assert.deepEqual([quota.projectName, quota.limit, quota.used], ["cli-quota", "4", "2"]);
    assert.deepEqual(rows(await cli("quota", "show", "cli-quota")), [
      ["PROJECT", "CLASS", "LIMIT", "USED"],
      ["cli-quota", "VCPU", "4", "2"],
    ]);
    fails(await claim(3), 8, /^error: RESOURCE_EXHAUSTED QUOTA_EXCEEDED: /);

    const usage = await cli("usage", "--project", "cli-quota");
    assert.deepEqual(rows(usage), [
      ["CLASS", "USED", "LIMIT"],
      ["VCPU", "2", "4"],
    ]);
    assert.match(usage.stdout, /\nconsumers 1\n$/);
  });
});

/**
 * Concurrency of claims over real gRPC, on SQLite and PostgreSQL: many concurrent Claim and
 * ClaimBest calls against little capacity (or a small quota) never over-commit — an audit
 * recomputes each provider's usage from its allocation rows and compares it with capacity —
 * and concurrent writes at one generation let exactly one through, the rest ABORTED.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../src/gen/google/rpc/error_details_pb.js";
import { Visibility } from "../src/gen/mulligan/meta/v1/meta_pb.js";
import {
  type Provider,
  ResourceService,
  Weigher,
} from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { newUuid } from "../src/platform/ids.js";
import { forEachStore } from "./harness.js";

let seq = 0;
const unique = (prefix: string) => `${prefix}-${process.pid}-${++seq}`;

/** The outcome of a call: "ok" or the error's code and reason. */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (err) {
    const e = ConnectError.from(err);
    return `${Code[e.code]}:${e.findDetails(ErrorInfoSchema)[0]?.reason ?? "?"}`;
  }
}

function tally(list: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of list) out[o] = (out[o] ?? 0) + 1;
  return out;
}

forEachStore("ResourceService concurrency", (server) => {
  const res = (token?: string) => server().client(ResourceService, token);

  /** Providers in a new region (EXTERNAL: a project member may search it). */
  async function hosts(totals: bigint[]): Promise<{ region: string; providers: Provider[] }> {
    const region =
      (
        await server()
          .meta()
          .createRegion({ name: unique("rg"), visibility: Visibility.EXTERNAL })
      ).region?.name ?? assert.fail("no region");
    const providers: Provider[] = [];
    for (const total of totals) {
      const p = (await res().createProvider({ name: unique("rp"), region })).provider;
      assert.ok(p);
      await res().setInventories({
        provider: p.uuid,
        generation: p.generation,
        inventories: [{ resourceClass: "VCPU", total }],
      });
      providers.push(p);
    }
    return { region, providers };
  }

  /** Usage recomputed from the allocation rows of each provider, checked against capacity. */
  async function audit(providers: readonly Provider[]): Promise<bigint> {
    let sum = 0n;
    for (const p of providers) {
      const rows = await res().listProviderAllocations({ provider: p.uuid, pageSize: 1000 });
      const used = rows.allocations.reduce((n, a) => n + (a.resources.VCPU ?? 0n), 0n);
      const usage = await res().getProviderUsages({ provider: p.uuid });
      const vcpu = usage.usages.find((u) => u.resourceClass === "VCPU");
      assert.ok(vcpu);
      assert.ok(
        used <= vcpu.capacity,
        `${p.name}: ${used} allocated over capacity ${vcpu.capacity}`,
      );
      assert.equal(vcpu.used, used, `${p.name}: reported usage matches the allocation rows`);
      sum += used;
    }
    return sum;
  }

  test("40 concurrent Claims for capacity 10 never over-commit", async () => {
    const { providers } = await hosts([5n, 5n]);
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        outcome(
          res().claim({
            consumer: newUuid(),
            allocations: [{ provider: providers[i % 2]?.uuid ?? "", resources: { VCPU: 1n } }],
          }),
        ),
      ),
    );
    assert.deepEqual(tally(results), { ok: 10, "ResourceExhausted:CAPACITY_EXCEEDED": 30 });
    assert.equal(await audit(providers), 10n);
  });

  test("40 concurrent ClaimBest calls for capacity 10 never over-commit", async () => {
    const { region, providers } = await hosts([4n, 3n, 3n]);
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        outcome(
          res().claimBest({
            query: { groups: [{ resources: { VCPU: 1n } }], region },
            weigher: [Weigher.PACK, Weigher.SPREAD, Weigher.RANDOM_TOP_K][i % 3] ?? Weigher.PACK,
          }),
        ),
      ),
    );
    assert.deepEqual(tally(results), { ok: 10, "ResourceExhausted:NO_CANDIDATES": 30 });
    assert.equal(await audit(providers), 10n);
  });

  test("concurrent claims of one project never exceed its quota", async () => {
    const project = unique("race-quota");
    const member = await server().tokenFor({ role: "member", project });
    const { providers } = await hosts([100n, 100n]);
    await res().setQuota({ project, resourceClass: "VCPU", limit: 5n });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        outcome(
          res(member).claim({
            consumer: newUuid(),
            allocations: [{ provider: providers[i % 2]?.uuid ?? "", resources: { VCPU: 1n } }],
          }),
        ),
      ),
    );
    assert.deepEqual(tally(results), { ok: 5, "ResourceExhausted:QUOTA_EXCEEDED": 15 });
    const quota = (await res(member).getQuotas({})).quotas[0];
    assert.equal(quota?.used, 5n);
    assert.equal(await audit(providers), 5n);
  });

  test("ClaimBest in batches and Claims written alone share a quota and never exceed it", async () => {
    const project = unique("race-quota-mixed");
    const member = await server().tokenFor({ role: "member", project });
    const { providers, region } = await hosts([100n, 100n]);
    await res().setQuota({ project, resourceClass: "VCPU", limit: 7n });
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        outcome(
          i % 3 === 0
            ? res(member).claim({
                consumer: newUuid(),
                allocations: [{ provider: providers[i % 2]?.uuid ?? "", resources: { VCPU: 1n } }],
              })
            : res(member).claimBest({
                query: { groups: [{ resources: { VCPU: 1n } }], region },
                weigher: Weigher.SPREAD,
              }),
        ),
      ),
    );
    const counts = tally(results);
    assert.equal(counts.ok, 7, JSON.stringify(counts));
    for (const k of Object.keys(counts))
      assert.ok(
        ["ok", "ResourceExhausted:QUOTA_EXCEEDED", "ResourceExhausted:NO_CANDIDATES"].includes(k),
        `unexpected outcome ${k}: ${JSON.stringify(counts)}`,
      );
    assert.equal((await res(member).getQuotas({})).quotas[0]?.used, 7n);
    assert.equal(await audit(providers), 7n);
  });

  test("concurrent writes at one generation: one wins, the rest are ABORTED", async () => {
    const { providers } = await hosts([100n]);
    const p = providers[0] ?? assert.fail("no provider");
    const consumer = newUuid();
    await res().claim({ consumer, allocations: [{ provider: p.uuid, resources: { VCPU: 1n } }] });
    const claims = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        outcome(
          res().claim({
            consumer,
            consumerGeneration: 1n,
            allocations: [{ provider: p.uuid, resources: { VCPU: BigInt(i + 2) } }],
          }),
        ),
      ),
    );
    assert.deepEqual(tally(claims), { ok: 1, "Aborted:CONSUMER_GENERATION_CONFLICT": 9 });
    const held = await res().getAllocations({ consumer });
    assert.equal(held.consumer?.generation, 2n);

    const newcomer = newUuid();
    const creates = await Promise.all(
      Array.from({ length: 10 }, () =>
        outcome(
          res().claim({
            consumer: newcomer,
            allocations: [{ provider: p.uuid, resources: { VCPU: 1n } }],
          }),
        ),
      ),
    );
    assert.deepEqual(tally(creates), { ok: 1, "Aborted:CONSUMER_GENERATION_CONFLICT": 9 });

    const { generation } = await res().getInventories({ provider: p.uuid });
    const writes = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        outcome(
          res().setInventories({
            provider: p.uuid,
            generation,
            inventories: [{ resourceClass: "VCPU", total: BigInt(100 + i) }],
          }),
        ),
      ),
    );
    assert.deepEqual(tally(writes), { ok: 1, "Aborted:PROVIDER_GENERATION_CONFLICT": 4 });
    const total = BigInt(held.allocations[0]?.resources.VCPU ?? 0n) + 1n;
    assert.equal(await audit([p]), total);
  });
});

/** Weighers: pack, spread and random_top_k over candidates of a small in-memory fleet. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { inventory, queryInput, requestGroup, WINDOW } from "../../../test/engine-fixtures.js";
import type { ProviderRecord } from "../model.js";
import { findCandidates } from "./candidates.js";
import { MemorySnapshot } from "./snapshot.js";
import { weigh } from "./weigh.js";

function host(name: string, vcpu: number): ProviderRecord {
  return {
    uuid: name,
    name,
    regionUuid: "r1",
    parentUuid: null,
    rootUuid: name,
    generation: 1,
    capabilities: [],
    groups: [],
    inventories: new Map([["VCPU", inventory("VCPU", vcpu)]]),
  };
}

// h1: 8 of 16 used; h2: 0 of 16; h3: 14 of 16.
const snap = new MemorySnapshot(
  [host("h1", 16), host("h2", 16), host("h3", 16)],
  [],
  [
    { consumerUuid: "a", providerUuid: "h1", resourceClass: "VCPU", amount: 8, window: WINDOW },
    { consumerUuid: "b", providerUuid: "h3", resourceClass: "VCPU", amount: 14, window: WINDOW },
  ],
);
const query = queryInput([requestGroup("", { VCPU: 1 })]);
const candidates = findCandidates(snap, query).candidates;
const hosts = (list: typeof candidates) => list.map((c) => [...c.allocations.keys()].join("+"));

describe("weigh", () => {
  it("search order is by name", () => assert.deepEqual(hosts(candidates), ["h1", "h2", "h3"]));

  it("pack prefers the least free capacity after the claim", () =>
    assert.deepEqual(hosts(weigh(snap, candidates, query, "pack", 0)), ["h3", "h1", "h2"]));

  it("spread prefers the most free capacity", () =>
    assert.deepEqual(hosts(weigh(snap, candidates, query, "spread", 0)), ["h2", "h1", "h3"]));

  it("random_top_k shuffles only the best k by spread", () => {
    const picks = new Set<string>();
    for (const r of [0, 0.99]) {
      const out = hosts(weigh(snap, candidates, query, "random_top_k", 2, () => r));
      assert.equal(out[2], "h3");
      assert.deepEqual([...out.slice(0, 2)].sort(), ["h1", "h2"]);
      picks.add(out[0] ?? "");
    }
    assert.deepEqual([...picks].sort(), ["h1", "h2"]);
  });

  it("random_top_k with k = 1 is spread", () =>
    assert.deepEqual(hosts(weigh(snap, candidates, query, "random_top_k", 1, () => 0.5)), [
      "h2",
      "h1",
      "h3",
    ]));
});

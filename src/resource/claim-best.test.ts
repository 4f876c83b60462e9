import assert from "node:assert/strict";
import { test } from "node:test";
import { queryKey } from "./claim-best.js";
import type { ClaimBestInput } from "./validate-claims.js";

const key = (i: ClaimBestInput) => queryKey(i.query, i.given);

/** A ClaimBest input with only the fields the key reads. */
function input(
  regions: string[] | null,
  forbidden: string[],
  limit = 0,
  start: string | null = null,
): ClaimBestInput {
  return {
    given: { start, end: null },
    query: {
      groups: [],
      groupPolicy: null,
      sameSubtree: [],
      rootRequired: [],
      rootForbidden: [],
      regions: regions && new Set(regions),
      distance: [],
      forbiddenTrees: new Set(forbidden),
      window: { start: "2026-01-01T00:00:00Z", end: null },
      limit,
    },
  } as unknown as ClaimBestInput;
}

test("queries that differ only in forbidden trees or regions do not share a search", () => {
  assert.notEqual(key(input(null, [])), key(input(null, ["a", "b"])));
  assert.notEqual(key(input(["r1"], [])), key(input(["r2"], [])));
  assert.notEqual(key(input(null, [])), key(input(["r1"], [])));
});

test("the order of a set does not change the key", () => {
  assert.equal(key(input(["r1", "r2"], ["b", "a"])), key(input(["r2", "r1"], ["a", "b"])));
});

test("the limit does not change the key (a kept search answers any limit); the given window does", () => {
  assert.equal(key(input(null, [], 1)), key(input(null, [], 1000)));
  assert.notEqual(key(input(null, [])), key(input(null, [], 0, "2026-02-01T00:00:00Z")));
});

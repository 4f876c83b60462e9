import assert from "node:assert/strict";
import { test } from "node:test";
import { queryKey } from "./claim-best.js";
import type { ClaimBestInput } from "./validate-claims.js";

/** A ClaimBest input with only the fields the key reads. */
function input(regions: string[] | null, forbidden: string[]): ClaimBestInput {
  return {
    given: { start: null, end: null },
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
      limit: 0,
    },
  } as unknown as ClaimBestInput;
}

test("queries that differ only in forbidden trees or regions do not share a search", () => {
  assert.notEqual(queryKey(input(null, [])), queryKey(input(null, ["a", "b"])));
  assert.notEqual(queryKey(input(["r1"], [])), queryKey(input(["r2"], [])));
  assert.notEqual(queryKey(input(null, [])), queryKey(input(["r1"], [])));
});

test("the order of a set does not change the key", () => {
  assert.equal(
    queryKey(input(["r1", "r2"], ["b", "a"])),
    queryKey(input(["r2", "r1"], ["a", "b"])),
  );
});

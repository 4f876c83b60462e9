/**
 * The kept search (kept-search.ts) against a new whole-fleet search: after random sequences of
 * usage changes (journaled per tree, as the fleet index does) and occasional shape changes, the
 * kept answer — candidates, their order and their scores — must equal findCandidates' answer
 * scored on current usage, for flat, nested, isolated, same_subtree, forbidden-tree and limited
 * queries. And best() must give weigh()'s order, cut.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { inventory, queryInput, requestGroup, WINDOW } from "../../../test/engine-fixtures.js";
import { prng } from "../../../test/prng.js";
import type {
  AllocationRecord,
  CandidateRecord,
  InventoryRecord,
  ProviderRecord,
  QueryInput,
} from "../model.js";
import { findCandidates } from "./candidates.js";
import { KEPT_MS, keptSearch } from "./kept-search.js";
import { type ChangeJournal, MemorySnapshot, type Snapshot } from "./snapshot.js";
import { best, freeAfter, weigh } from "./weigh.js";

/** Trees host (DISK_GB) → numa0/numa1 (VCPU, MEMORY_MB) → one CUSTOM_FPGA each. */
function fleet(trees: number, rng: () => number): ProviderRecord[] {
  const out: ProviderRecord[] = [];
  const rp = (name: string, parent: string | null, root: string, inv: InventoryRecord[]) =>
    out.push({
      uuid: name,
      name,
      regionUuid: "r1",
      parentUuid: parent,
      rootUuid: root,
      generation: 1,
      capabilities: rng() < 0.5 ? ["CUSTOM_FAST"] : [],
      groups: [],
      inventories: new Map(inv.map((i) => [i.resourceClass, i])),
    });
  for (let t = 0; t < trees; t++) {
    const host = `host${String(t).padStart(3, "0")}`;
    rp(host, null, host, [inventory("DISK_GB", 100 + Math.floor(rng() * 200))]);
    for (const n of [0, 1]) {
      const numa = `${host}-numa${n}`;
      rp(numa, host, host, [inventory("VCPU", 8), inventory("MEMORY_MB", 16384)]);
      rp(`${numa}-fpga`, numa, host, [inventory("CUSTOM_FPGA", 1)]);
    }
  }
  return out;
}

const QUERIES: Record<string, QueryInput> = {
  flat: queryInput([requestGroup("", { VCPU: 2, MEMORY_MB: 4096, DISK_GB: 40 })]),
  nested: queryInput(
    [requestGroup("_CPU", { VCPU: 2, MEMORY_MB: 2048 }), requestGroup("_DEV", { CUSTOM_FPGA: 1 })],
    {
      sameSubtree: [["_CPU", "_DEV"]],
      groupPolicy: "none",
    },
  ),
  isolated: queryInput([requestGroup("_A", { VCPU: 3 }), requestGroup("_B", { VCPU: 3 })], {
    groupPolicy: "isolate",
  }),
  capable: queryInput([{ ...requestGroup("", { VCPU: 1 }), required: ["CUSTOM_FAST"] }]),
  forbidden: queryInput([requestGroup("", { VCPU: 4 })], {
    forbiddenTrees: new Set(["host001", "host004"]),
  }),
  limited: queryInput([requestGroup("", { VCPU: 2, DISK_GB: 10 })], { limit: 5 }),
};

/** A snapshot that changes in place and journals what changed, like the fleet index. */
class JournaledSnapshot implements Snapshot, ChangeJournal {
  private inner: MemorySnapshot;
  readonly allocations: AllocationRecord[] = [];
  shape = 0;
  rounds = 0;
  private readonly journal: { round: number; roots: string[] }[] = [];

  constructor(public providerList: ProviderRecord[]) {
    this.inner = new MemorySnapshot(providerList, [], []);
  }

  get providers() {
    return this.inner.providers;
  }
  get children() {
    return this.inner.children;
  }
  get groups() {
    return this.inner.groups;
  }
  providersByName = () => this.inner.providersByName();
  rank = (u: string) => this.inner.rank(u);
  offering = (rc: string, n: number, w: QueryInput["window"]) => this.inner.offering(rc, n, w);
  rootsByName = () => this.inner.rootsByName();
  tree = (root: string) => this.inner.tree(root);
  sharingProviders = () => this.inner.sharingProviders();
  members = (g: string) => this.inner.members(g);
  used = (u: string, rc: string, w: QueryInput["window"]) => this.inner.used(u, rc, w);
  consumerProviders = (c: string) => this.inner.consumerProviders(c);
  hasCapability = (name: string) => this.inner.hasCapability(name);

  latestEnd: string | null = null;

  usageChangedSince(round: number): ReadonlySet<string> {
    return new Set(this.journal.filter((e) => e.round > round).flatMap((e) => e.roots));
  }

  /** Applies a round; `journaled` false leaves the change out of the journal (a silent change). */
  apply(change: () => void, roots: string[] | "shape", journaled = true): void {
    change();
    for (const a of this.allocations)
      if (a.window.end !== null && (this.latestEnd === null || a.window.end > this.latestEnd))
        this.latestEnd = a.window.end;
    this.inner = new MemorySnapshot(this.providerList, [], this.allocations);
    this.rounds++;
    if (roots === "shape") this.shape++;
    else if (journaled) this.journal.push({ round: this.rounds, roots });
  }
}

function describeCandidates(list: readonly CandidateRecord[]): string[] {
  return list.map((c) =>
    [...c.allocations]
      .map(([u, r]) => `${u}:${Object.entries(r).map(([k, v]) => `${k}=${v}`)}`)
      .join(" "),
  );
}

/** The whole-fleet answer, scored and summarised, as the kept search must give it. */
function reference(snap: Snapshot, q: QueryInput) {
  const found = findCandidates(snap, q);
  return {
    candidates: describeCandidates(found.candidates),
    free: found.candidates.map((c) => freeAfter(snap, c, q)),
    summaries: found.summaries,
  };
}

/** ClaimBest's way: a window from "now", a search up to KEPT_MS old when that matters. */
function kept(snap: Snapshot, key: string, q: QueryInput, now: number, suspects: string[] = []) {
  const found = keptSearch(snap, key, q, { startsNow: true, staleMs: KEPT_MS, suspects, now });
  return {
    candidates: describeCandidates(found.scored.map((s) => s.candidate)),
    free: found.scored.map((s) => s.free),
    summaries: found.scored.length > 0 ? found.summaries() : [],
  };
}

/** Takes all the VCPU of a host's NUMA nodes (a change the caller may leave out of the journal). */
function silentClaim(
  snap: JournaledSnapshot,
  consumer: string,
  host: string,
  window: AllocationRecord["window"],
): void {
  for (const numa of [`${host}-numa0`, `${host}-numa1`])
    snap.allocations.push({
      consumerUuid: consumer,
      providerUuid: numa,
      resourceClass: "VCPU",
      amount: 8,
      window,
    });
}

describe("kept search", () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`equals a new search after random usage and shape changes (seed ${seed})`, () => {
      const rng = prng(seed);
      const snap = new JournaledSnapshot(fleet(12, rng));
      const names = [...snap.providers.keys()];
      let consumer = 0;
      for (let step = 0; step < 120; step++) {
        const r = rng();
        if (r < 0.6) {
          // A claim of random size on one provider's classes.
          const uuid = names[Math.floor(rng() * names.length)] as string;
          const p = snap.providers.get(uuid) as ProviderRecord;
          snap.apply(() => {
            consumer++;
            for (const inv of p.inventories.values())
              snap.allocations.push({
                consumerUuid: `c${consumer}`,
                providerUuid: uuid,
                resourceClass: inv.resourceClass,
                amount: 1 + Math.floor(rng() * Math.min(4, inv.total)),
                window: WINDOW,
              });
          }, [p.rootUuid]);
        } else if (r < 0.9 && snap.allocations.length > 0) {
          // A consumer gone.
          const victim = (
            snap.allocations[Math.floor(rng() * snap.allocations.length)] as AllocationRecord
          ).consumerUuid;
          const roots = snap.allocations
            .filter((a) => a.consumerUuid === victim)
            .map((a) => snap.providers.get(a.providerUuid)?.rootUuid as string);
          snap.apply(() => {
            for (let i = snap.allocations.length - 1; i >= 0; i--)
              if (snap.allocations[i]?.consumerUuid === victim) snap.allocations.splice(i, 1);
          }, roots);
        } else {
          // A shape change: one provider's capabilities flip.
          const i = Math.floor(rng() * snap.providerList.length);
          const p = snap.providerList[i] as ProviderRecord;
          snap.apply(() => {
            snap.providerList[i] = {
              ...p,
              capabilities: p.capabilities.length > 0 ? [] : ["CUSTOM_FAST"],
            };
          }, "shape");
        }
        for (const [name, q] of Object.entries(QUERIES))
          assert.deepEqual(
            kept(snap, `${seed}/${name}`, q, 0),
            reference(snap, q),
            `seed ${seed}, step ${step}, query ${name}`,
          );
        // One kept search answering several limits: it covers more trees when asked for more.
        const limit = [1, 2, 7, 15, 0][step % 5] as number;
        const q = { ...(QUERIES.flat as QueryInput), limit };
        assert.deepEqual(
          kept(snap, `${seed}/limits`, q, 0),
          reference(snap, q),
          `seed ${seed}, step ${step}, flat query at limit ${limit}`,
        );
      }
    });
  }

  it("a change the journal missed shows once its tree is named a suspect", () => {
    const snap = new JournaledSnapshot(fleet(4, prng(9)));
    const q = QUERIES.flat as QueryInput;
    assert.deepEqual(kept(snap, "silent", q, 0), reference(snap, q));
    snap.apply(() => silentClaim(snap, "silent", "host002", WINDOW), ["host002"], false);
    const stale = kept(snap, "silent", q, 1);
    assert.notDeepEqual(stale, reference(snap, q), "the kept search still offers host002");
    assert.ok(stale.candidates.some((c) => c.includes("host002-numa")));
    // Nothing moves with the clock (no allocation has an end): the search is kept, however old.
    assert.deepEqual(kept(snap, "silent", q, 30 * KEPT_MS), stale);
    assert.deepEqual(kept(snap, "silent", q, 30 * KEPT_MS + 1, ["host002"]), reference(snap, q));
  });

  it("an answer that moves with the clock is kept KEPT_MS for ClaimBest, never for FindCandidates", () => {
    const snap = new JournaledSnapshot(fleet(4, prng(9)));
    const q = QUERIES.flat as QueryInput;
    // A journaled claim with an end: from now on, a window from "now" moves with the clock.
    snap.apply(
      () => silentClaim(snap, "ending", "host001", { ...WINDOW, end: "2026-01-02T00:00:00.000Z" }),
      ["host001"],
    );
    assert.deepEqual(kept(snap, "clock", q, 0), reference(snap, q));
    snap.apply(() => silentClaim(snap, "silent", "host002", WINDOW), ["host002"], false);
    assert.notDeepEqual(kept(snap, "clock", q, 1), reference(snap, q), "kept while young");
    assert.deepEqual(kept(snap, "clock", q, 1 + KEPT_MS), reference(snap, q), "aged: redone");
    // FindCandidates' way: searched anew at every call, never kept.
    const find = (now: number) =>
      keptSearch(snap, "find", q, { startsNow: true, staleMs: 0, now }).scored.length;
    assert.equal(find(0), reference(snap, q).candidates.length);
    snap.apply(() => silentClaim(snap, "silent2", "host003", WINDOW), ["host003"], false);
    assert.equal(find(1), reference(snap, q).candidates.length, "the silent claim shows at once");
    // A window given in full does not move with the clock: kept.
    const fixed = { startsNow: false, staleMs: 0, now: 2 };
    const first = keptSearch(snap, "fixed", q, fixed).scored.length;
    snap.apply(() => silentClaim(snap, "silent3", "host000", WINDOW), ["host000"], false);
    assert.equal(keptSearch(snap, "fixed", q, { ...fixed, now: 3 }).scored.length, first);
    // Once every end is behind the window's start, "now" no longer moves the answer: kept.
    const later = { ...q, window: { start: "2026-01-03T00:00:00.000Z", end: null } };
    const afterEnds = (now: number) =>
      keptSearch(snap, "later", later, { startsNow: true, staleMs: 0, now }).scored.length;
    const count = afterEnds(4);
    snap.apply(() => silentClaim(snap, "silent4", "host001", WINDOW), ["host001"], false);
    assert.equal(afterEnds(5), count, "kept: the silent claim does not show");
    assert.notEqual(reference(snap, later).candidates.length, count);
  });

  it("a wide tree (thousands of candidates in one tree) is answered as findCandidates answers it", () => {
    // One host with 8 one-unit GPUs, 6 asked in isolated groups: 20,160 candidates in one tree.
    const gpus: ProviderRecord[] = Array.from({ length: 8 }, (_, i) => ({
      uuid: `gpu${i}`,
      name: `gpu${i}`,
      regionUuid: "r1",
      parentUuid: "wide",
      rootUuid: "wide",
      generation: 1,
      capabilities: [],
      groups: [],
      inventories: new Map([["CUSTOM_GPU", inventory("CUSTOM_GPU", 1)]]),
    }));
    const host: ProviderRecord = {
      ...(gpus[0] as ProviderRecord),
      uuid: "wide",
      name: "wide",
      parentUuid: null,
      inventories: new Map(),
    };
    const snap = new JournaledSnapshot([host, ...gpus]);
    const groups = Array.from({ length: 6 }, (_, i) => requestGroup(`_G${i}`, { CUSTOM_GPU: 1 }));
    for (const limit of [1, 3, 0]) {
      const q = queryInput(groups, { groupPolicy: "isolate", limit });
      for (const now of [0, 1])
        assert.deepEqual(kept(snap, "wide", q, now), reference(snap, q), `limit ${limit}`);
    }
  });

  it("an answer with nothing left explains why", () => {
    const snap = new JournaledSnapshot(fleet(2, prng(3)));
    const q = queryInput([requestGroup("", { VCPU: 100 })]);
    const found = keptSearch(snap, "none", q, { startsNow: true, staleMs: KEPT_MS, now: 0 });
    assert.equal(found.scored.length, 0);
    assert.match(found.explanation?.summary ?? "", /VCPU/);
  });
});

describe("best", () => {
  it("gives weigh()'s order, cut, for every weigher", () => {
    const snap = new JournaledSnapshot(fleet(20, prng(11)));
    const rng = prng(12);
    for (let i = 0; i < 60; i++) {
      const uuid = `host${String(Math.floor(rng() * 20)).padStart(3, "0")}-numa${i % 2}`;
      snap.allocations.push({
        consumerUuid: `c${i}`,
        providerUuid: uuid,
        resourceClass: "VCPU",
        amount: 1 + Math.floor(rng() * 3),
        window: WINDOW,
      });
    }
    snap.apply(() => {}, "shape");
    const q = QUERIES.flat as QueryInput;
    const candidates = findCandidates(snap, q).candidates;
    const scored = candidates.map((candidate) => ({
      candidate,
      free: freeAfter(snap, candidate, q),
    }));
    for (const weigher of ["pack", "spread", "random_top_k"] as const)
      for (const topK of [1, 3, 10, 1000])
        for (const n of [1, 3, 7, candidates.length]) {
          const seed = topK * 31 + n;
          const whole = weigh(snap, candidates, q, weigher, topK, prng(seed));
          const cut = best(scored, weigher, topK, n, prng(seed));
          assert.deepEqual(
            describeCandidates(cut),
            describeCandidates(whole.slice(0, n)),
            `${weigher}, top ${topK}, first ${n}`,
          );
        }
  });
});

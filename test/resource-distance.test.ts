/**
 * Distance constraints and region bounds, end to end over gRPC on SQLite and PostgreSQL: hosts
 * in racks (groups of level RACK) and rows (ROW) across two sub-regions; FindCandidates and
 * ClaimBest asked for "the same rack as consumer X" and "a different row from consumer Y",
 * an unsatisfiable combination (RESOURCE_EXHAUSTED NO_CANDIDATES naming the distance step), and
 * query.region restricted to a sub-region.
 *
 *   row1: rack1 = h1 (X), h2 [east]; rack2 = h3 [east]; rack5 = h6 [west]
 *   row2: rack3 = h4 (Y) [west];     rack4 = h5 [west]
 */
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { Code } from "@connectrpc/connect";
import {
  DistanceConstraint_Relation,
  type FindCandidatesResponse,
  GroupLevel,
  ResourceService,
  Weigher,
} from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { newUuid } from "../src/platform/ids.js";
import { expectGrpcError, forEachStore, type TestServer } from "./harness.js";
import { buildFixture, type Fixture, type ProviderSpec } from "./placement-fixtures.js";

type Level = "RACK" | "ROW";
interface Distance {
  relation: "same" | "different";
  level: Level;
  consumers: string[];
}

const ROW1 = ["h1", "h2", "h3", "h6"];

forEachStore("ResourceService distance and regions", (server: () => TestServer) => {
  const res = () => server().client(ResourceService);
  let fx: Fixture;
  let x = "";
  let y = "";

  before(async () => {
    const host = (region: string, rack: string, row: string): ProviderSpec => ({
      region,
      groups: [rack, row],
      inv: { VCPU: 4 },
    });
    fx = await buildFixture(res(), server().meta(), "dist", {
      subRegions: ["east", "west"],
      groups: {
        rack1: GroupLevel.RACK,
        rack2: GroupLevel.RACK,
        rack3: GroupLevel.RACK,
        rack4: GroupLevel.RACK,
        rack5: GroupLevel.RACK,
        row1: GroupLevel.ROW,
        row2: GroupLevel.ROW,
      },
      providers: [
        ["h1", host("east", "rack1", "row1")],
        ["h2", host("east", "rack1", "row1")],
        ["h3", host("east", "rack2", "row1")],
        ["h4", host("west", "rack3", "row2")],
        ["h5", host("west", "rack4", "row2")],
        ["h6", host("west", "rack5", "row1")],
      ],
      usage: [{ h1: { VCPU: 1 } }, { h4: { VCPU: 1 } }],
    });
    [x = "", y = ""] = fx.consumers;
  });

  function query(distance: Distance[], region = fx.region) {
    return {
      region,
      groups: [{ suffix: "", resources: { VCPU: 1n } }],
      distance: distance.map((d) => ({
        relation:
          d.relation === "same"
            ? DistanceConstraint_Relation.SAME
            : DistanceConstraint_Relation.DIFFERENT,
        level: d.level === "RACK" ? GroupLevel.RACK : GroupLevel.ROW,
        consumers: d.consumers,
      })),
    };
  }

  /** The single provider of each candidate, by local name, sorted. */
  const hosts = (r: FindCandidatesResponse) =>
    r.candidates.flatMap((c) => c.allocations.map((a) => fx.local(a.providerUuid))).sort();

  const find = async (distance: Distance[], region?: string) =>
    res().findCandidates({ query: query(distance, region) });

  async function claimBest(distance: Distance[], region?: string): Promise<string> {
    const consumer = newUuid();
    const r = await res().claimBest({
      consumer,
      query: query(distance, region),
      weigher: Weigher.SPREAD,
    });
    assert.equal(r.allocations.length, 1);
    const held = await res().getAllocations({ consumer });
    assert.deepEqual(
      held.allocations.map((a) => a.providerUuid),
      r.allocations.map((a) => a.providerUuid),
    );
    return fx.local(r.allocations[0]?.providerUuid ?? "");
  }

  test("same rack as consumer X lands in X's rack", async () => {
    const sameRack: Distance[] = [{ relation: "same", level: "RACK", consumers: [x] }];
    assert.deepEqual(hosts(await find(sameRack)), ["h1", "h2"]);
    for (let i = 0; i < 2; i++) assert.ok(["h1", "h2"].includes(await claimBest(sameRack)));
    assert.deepEqual(hosts(await find([{ relation: "same", level: "ROW", consumers: [x] }])), ROW1);
  });

  test("different row from consumer Y avoids Y's row", async () => {
    const otherRow: Distance[] = [{ relation: "different", level: "ROW", consumers: [y] }];
    assert.deepEqual(hosts(await find(otherRow)), ROW1);
    for (let i = 0; i < 2; i++) assert.ok(ROW1.includes(await claimBest(otherRow)));
    const rowNotRack = await find([
      { relation: "same", level: "ROW", consumers: [y] },
      { relation: "different", level: "RACK", consumers: [y] },
    ]);
    assert.deepEqual(hosts(rowNotRack), ["h5"]);
    assert.deepEqual(
      hosts(await find([{ relation: "different", level: "RACK", consumers: [x, y] }])),
      ["h3", "h5", "h6"],
    );
  });

  test("an unsatisfiable distance explains itself; ClaimBest is RESOURCE_EXHAUSTED", async () => {
    const impossible: Distance[] = [
      { relation: "same", level: "RACK", consumers: [x] },
      { relation: "different", level: "ROW", consumers: [x] },
    ];
    const found = await find(impossible);
    assert.deepEqual(found.candidates, []);
    assert.match(found.explanation?.summary ?? "", /distance/);
    const step = found.explanation?.steps.find((s) => s.constraint === "distance" && s.after === 0);
    assert.ok(step, "a distance step emptied the set");
    assert.equal(step.before, 2, "the first distance step left X's rack");
    const err = await expectGrpcError(
      res().claimBest({ consumer: newUuid(), query: query(impossible) }),
      Code.ResourceExhausted,
      "NO_CANDIDATES",
    );
    assert.match(err.rawMessage, /distance/);
    const stranger: Distance[] = [{ relation: "same", level: "RACK", consumers: [newUuid()] }];
    assert.deepEqual((await find(stranger)).candidates, [], "no allocations, no rack");
  });

  test("query.region keeps candidates inside the sub-region", async () => {
    assert.deepEqual(hosts(await find([], fx.subRegion("west"))), ["h4", "h5", "h6"]);
    assert.deepEqual(hosts(await find([], fx.subRegion("east"))), ["h1", "h2", "h3"]);
    assert.deepEqual(hosts(await find([], fx.region)), ["h1", "h2", "h3", "h4", "h5", "h6"]);
    const eastOtherRow = await find(
      [{ relation: "different", level: "ROW", consumers: [y] }],
      fx.subRegion("east"),
    );
    assert.deepEqual(hosts(eastOtherRow), ["h1", "h2", "h3"]);
    const westRow1 = await claimBest(
      [{ relation: "same", level: "ROW", consumers: [x] }],
      fx.subRegion("west"),
    );
    assert.equal(westRow1, "h6", "the only row1 host in the west");
    const westRackX = await find(
      [{ relation: "same", level: "RACK", consumers: [x] }],
      fx.subRegion("west"),
    );
    assert.deepEqual(westRackX.candidates, []);
    assert.match(westRackX.explanation?.summary ?? "", /distance/);
  });
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type AnswerInit, EDGE_CASES, randomAnswers } from "../../test/candidate-answers.js";
import { FindCandidatesResponseSchema } from "../gen/mulligan/resource/v1/resource_pb.js";
import type { FoundCandidates } from "./claim-best.js";
import { candidatesResponse } from "./wire-claims.js";
import { encodeFindCandidatesResponse } from "./wire-encode.js";

function same(init: AnswerInit, what: string): void {
  const message = create(FindCandidatesResponseSchema, init);
  const expected = Buffer.from(toBinary(FindCandidatesResponseSchema, message));
  const actual = Buffer.from(encodeFindCandidatesResponse(message));
  assert.ok(actual.equals(expected), `${what}: bytes differ from toBinary`);
}

test("encodes FindCandidatesResponse exactly as toBinary: edge cases", () => {
  same({}, "empty");
  same(EDGE_CASES, "edge cases");
});

test("encodes FindCandidatesResponse exactly as toBinary: random answers", () => {
  for (const [i, init] of randomAnswers(200).entries()) same(init, `random answer ${i}`);
});

test("candidatesResponse builds complete messages: they survive a round trip and encode alike", () => {
  const found: FoundCandidates = {
    candidates: [
      {
        allocations: new Map<string, Record<string, number>>([
          ["root-1", { VCPU: 2, MEMORY_MB: 4096 }],
          ["disk-1", { DISK_GB: 40 }],
        ]),
        mappings: new Map([
          ["", ["root-1", "disk-1"]],
          ["GPU", []],
        ]),
      },
    ],
    summaries: [
      {
        uuid: "root-1",
        name: "host-1",
        parentUuid: null,
        rootUuid: "root-1",
        resources: [{ resourceClass: "VCPU", capacity: 64, used: 0 }],
        capabilities: ["HW_CPU_X86_AVX2"],
      },
      {
        uuid: "disk-1",
        name: "",
        parentUuid: "root-1",
        rootUuid: "root-1",
        resources: [],
        capabilities: [],
      },
    ],
    providerNames: new Map([["root-1", "host-1"]]),
    explanation: null,
  };
  for (const explanation of [null, { summary: "why", steps: [] }]) {
    const message = candidatesResponse({ ...found, explanation });
    const bytes = toBinary(FindCandidatesResponseSchema, message);
    assert.ok(
      equals(
        FindCandidatesResponseSchema,
        fromBinary(FindCandidatesResponseSchema, bytes),
        message,
      ),
      "the decoded answer equals the built one",
    );
    assert.ok(Buffer.from(encodeFindCandidatesResponse(message)).equals(Buffer.from(bytes)));
    assert.equal(message.candidates[0]?.allocations[1]?.providerName, "", "unknown name");
    assert.equal(message.providerSummaries[1]?.parentUuid, "root-1");
  }
});

test("a record answered again reuses its message, and its kept encoding gives toBinary's bytes", () => {
  const found: FoundCandidates = {
    candidates: [
      {
        allocations: new Map([["root-1", { VCPU: 2, MEMORY_MB: 4096 }]]),
        mappings: new Map([["", ["root-1"]]]),
      },
    ],
    summaries: [
      {
        uuid: "root-1",
        name: "host-ü",
        parentUuid: null,
        rootUuid: "root-1",
        resources: [{ resourceClass: "VCPU", capacity: 64, used: 2 ** 40 }],
        capabilities: ["HW_CPU_X86_AVX2"],
      },
    ],
    providerNames: new Map([["root-1", "host-ü"]]),
    explanation: null,
  };
  const first = candidatesResponse(found);
  const again = candidatesResponse(found);
  assert.equal(again.candidates[0], first.candidates[0], "the same candidate message");
  assert.equal(again.providerSummaries[0], first.providerSummaries[0], "the same summary message");
  const expected = Buffer.from(toBinary(FindCandidatesResponseSchema, first));
  // The first encoding after the message was marked keeps it; the later ones copy it. The same
  // kept messages twice in one answer (and beside a new one) still give toBinary's bytes.
  for (let i = 0; i < 3; i++)
    assert.ok(Buffer.from(encodeFindCandidatesResponse(again)).equals(expected), `encoding ${i}`);
  const other = candidatesResponse({
    ...found,
    candidates: [...found.candidates, { allocations: new Map(), mappings: new Map() }],
  });
  const doubled: typeof other = {
    ...other,
    candidates: [...other.candidates, ...other.candidates],
    providerSummaries: [...other.providerSummaries, ...other.providerSummaries],
  };
  for (let i = 0; i < 2; i++)
    assert.ok(
      Buffer.from(encodeFindCandidatesResponse(doubled)).equals(
        Buffer.from(toBinary(FindCandidatesResponseSchema, doubled)),
      ),
      `doubled answer, encoding ${i}`,
    );
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type AnswerInit, EDGE_CASES, randomAnswers } from "../../test/candidate-answers.js";
import { FindCandidatesResponseSchema } from "../gen/mulligan/resource/v1/resource_pb.js";
import { decodeFindCandidatesResponse, parseFindCandidatesResponse } from "./decode-candidates.js";

const bytesOf = (init: AnswerInit) =>
  Buffer.from(toBinary(FindCandidatesResponseSchema, create(FindCandidatesResponseSchema, init)));

/** The hand-written parser gives fromBinary's message, without handing over to it. */
function same(bytes: Buffer, what: string): void {
  const expected = fromBinary(FindCandidatesResponseSchema, bytes);
  const parsed = parseFindCandidatesResponse(bytes);
  assert.ok(parsed, `${what}: the parser handed over to fromBinary`);
  assert.deepStrictEqual(parsed, expected, what);
  assert.deepStrictEqual(decodeFindCandidatesResponse(bytes), expected, what);
}

test("decodes FindCandidatesResponse as fromBinary: empty, edge cases, random answers", () => {
  same(bytesOf({}), "empty");
  same(bytesOf(EDGE_CASES), "edge cases");
  for (const [i, init] of randomAnswers(200).entries()) same(bytesOf(init), `random answer ${i}`);
  // From a Uint8Array that is not a Buffer, at an offset into a larger buffer.
  const inner = bytesOf(EDGE_CASES);
  const outer = new Uint8Array(inner.length + 7);
  outer.set(inner, 3);
  assert.deepStrictEqual(
    decodeFindCandidatesResponse(outer.subarray(3, 3 + inner.length)),
    fromBinary(FindCandidatesResponseSchema, inner),
  );
});

test("an answer with more distinct strings than the parser's table: each string is its own", () => {
  // 12,000 UUIDs and 12,000 names of one length each, every one twice: strings of one length
  // meet in the table's slots, so a wrong match gives another string's value.
  const uuids = Array.from(
    { length: 12_000 },
    (_, i) => `${String(i).padStart(8, "0")}${"-0000".repeat(3)}-${"0".repeat(12)}`,
  );
  const names = uuids.map((_, i) => `host-${String(i).padStart(5, "0")}`);
  same(
    bytesOf({
      candidates: uuids.map((u, i) => ({
        allocations: [{ providerUuid: u, providerName: names[i], resources: { VCPU: BigInt(i) } }],
      })),
      providerSummaries: uuids.map((u, i) => ({
        providerUuid: u,
        providerName: names[i],
        rootUuid: uuids[uuids.length - 1 - i],
        capabilities: [`CUSTOM_C${i % 997}`, "HW_CPU_X86_AVX2"],
      })),
    }),
    "many distinct strings",
  );
});

test("map entries without key or value decode as fromBinary's: empty key, zero", () => {
  // Candidate { Allocation { resources: entry {value 5}, entry {key "A"} } }
  const entryValueOnly = [0x10, 0x05];
  const entryKeyOnly = [0x0a, 0x01, 0x41];
  const allocation = [0x1a, entryValueOnly.length, ...entryValueOnly, 0x1a, 3, ...entryKeyOnly];
  const candidate = [0x0a, allocation.length, ...allocation];
  same(Buffer.from([0x0a, candidate.length, ...candidate]), "partial map entries");
});

test("what it does not know goes to fromBinary: unknown fields are kept, bad input fails alike", () => {
  const known = bytesOf(EDGE_CASES);
  // Field 9 (varint 1) at the top level.
  const unknownTop = Buffer.concat([known, Buffer.from([0x48, 0x01])]);
  assert.equal(parseFindCandidatesResponse(unknownTop), null);
  const decoded = decodeFindCandidatesResponse(unknownTop);
  assert.deepStrictEqual(decoded, fromBinary(FindCandidatesResponseSchema, unknownTop));
  assert.ok(decoded.$unknown?.length, "the unknown field is kept");
  // Field 9 inside an Allocation.
  const allocation = [0x0a, 0x01, 0x75, 0x48, 0x01];
  const candidate = [0x0a, allocation.length, ...allocation];
  const unknownInner = Buffer.from([0x0a, candidate.length, ...candidate]);
  assert.equal(parseFindCandidatesResponse(unknownInner), null);
  assert.deepStrictEqual(
    decodeFindCandidatesResponse(unknownInner),
    fromBinary(FindCandidatesResponseSchema, unknownInner),
  );
  // Truncated answers and a length running past the end throw, as fromBinary does.
  for (const bad of [known.subarray(0, known.length - 3), Buffer.from([0x0a, 0x7f, 0x01])]) {
    assert.equal(parseFindCandidatesResponse(bad), null);
    assert.throws(() => fromBinary(FindCandidatesResponseSchema, bad));
    assert.throws(() => decodeFindCandidatesResponse(bad));
  }
});

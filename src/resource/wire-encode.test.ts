import assert from "node:assert/strict";
import { test } from "node:test";
import { create, equals, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { FindCandidatesResponseSchema } from "../gen/mulligan/resource/v1/resource_pb.js";
import type { FoundCandidates } from "./claim-best.js";
import { candidatesResponse } from "./wire-claims.js";
import { encodeFindCandidatesResponse } from "./wire-encode.js";

type Init = MessageInitShape<typeof FindCandidatesResponseSchema>;

function same(init: Init, what: string): void {
  const message = create(FindCandidatesResponseSchema, init);
  const expected = Buffer.from(toBinary(FindCandidatesResponseSchema, message));
  const actual = Buffer.from(encodeFindCandidatesResponse(message));
  assert.ok(actual.equals(expected), `${what}: bytes differ from toBinary`);
}

test("encodes FindCandidatesResponse exactly as toBinary: edge cases", () => {
  same({}, "empty");
  same(
    {
      candidates: [
        {
          allocations: [
            { providerUuid: "u1", providerName: "", resources: { VCPU: 0n, MEMORY_MB: 4096n } },
            { providerUuid: "", providerName: "größe-ü-🙂", resources: {} },
          ],
          mappings: [
            { suffix: "", providerUuids: ["u1", ""] },
            { suffix: "GPU", providerUuids: [] },
          ],
        },
        {},
      ],
      providerSummaries: [
        {
          providerUuid: "u1",
          providerName: "host",
          parentUuid: "",
          rootUuid: "u1",
          resources: [
            { resourceClass: "VCPU", capacity: 9223372036854775807n, used: -1n },
            { resourceClass: "", capacity: 0n, used: 0n },
            { resourceClass: "DISK_GB", capacity: 2n ** 53n, used: 2n ** 53n + 1n },
          ],
          capabilities: ["HW_CPU_X86_AVX2", "", "CUSTOM_é"],
        },
      ],
      explanation: {
        summary: "no tree serves every group",
        steps: [
          { constraint: "resources", suffix: "", before: 70000, after: 0, detail: "none" },
          { constraint: "x", suffix: "S", before: -5, after: 2147483647, detail: "" },
        ],
      },
    },
    "edge cases",
  );
});

test("encodes FindCandidatesResponse exactly as toBinary: random answers", () => {
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const alphabet = ["a", "Z", "-", "_", "0", "é", "ß", "中", "🙂", " "];
  const str = () => Array.from({ length: rnd(40) }, () => alphabet[rnd(alphabet.length)]).join("");
  const big = () => {
    const pick = rnd(4);
    if (pick === 0) return 0n;
    if (pick === 1) return BigInt(rnd(1_000_000));
    if (pick === 2) return -BigInt(rnd(1_000_000)) - 1n;
    return BigInt.asIntN(64, BigInt(rnd(2 ** 30)) * 2n ** 34n + BigInt(rnd(2 ** 30)));
  };
  for (let i = 0; i < 200; i++) {
    const init: Init = {
      candidates: Array.from({ length: rnd(5) }, () => ({
        allocations: Array.from({ length: rnd(4) }, () => ({
          providerUuid: str(),
          providerName: str(),
          resources: Object.fromEntries(Array.from({ length: rnd(4) }, () => [str(), big()])),
        })),
        mappings: Array.from({ length: rnd(3) }, () => ({
          suffix: str(),
          providerUuids: Array.from({ length: rnd(4) }, str),
        })),
      })),
      providerSummaries: Array.from({ length: rnd(5) }, () => ({
        providerUuid: str(),
        providerName: str(),
        parentUuid: str(),
        rootUuid: str(),
        resources: Array.from({ length: rnd(4) }, () => ({
          resourceClass: str(),
          capacity: big(),
          used: big(),
        })),
        capabilities: Array.from({ length: rnd(4) }, str),
      })),
      ...(rnd(2) === 0 && {
        explanation: {
          summary: str(),
          steps: Array.from({ length: rnd(4) }, () => ({
            constraint: str(),
            suffix: str(),
            before: rnd(3) === 0 ? -rnd(1000) : rnd(100000),
            after: rnd(100000),
            detail: str(),
          })),
        },
      }),
    };
    same(init, `random answer ${i}`);
  }
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

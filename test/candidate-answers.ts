/**
 * FindCandidatesResponse contents for codec tests (src/resource/wire-encode.test.ts,
 * src/client/decode-candidates.test.ts): edge cases, and random answers with every field,
 * multi-byte strings and int64 values of every size and sign.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { FindCandidatesResponseSchema } from "../src/gen/mulligan/resource/v1/resource_pb.js";

export type AnswerInit = MessageInitShape<typeof FindCandidatesResponseSchema>;

/** Empty strings, names with multi-byte characters, int64 extremes, an explanation. */
export const EDGE_CASES: AnswerInit = {
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
};

/** `count` random answers (deterministic). */
export function randomAnswers(count: number): AnswerInit[] {
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
  return Array.from(
    { length: count },
    (): AnswerInit => ({
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
    }),
  );
}

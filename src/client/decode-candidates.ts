/**
 * A hand-written binary decoder for FindCandidatesResponse, the one large answer of the API
 * (about 1.4 MB at limit 1,000; tens of megabytes unlimited). protobuf-es's reflective
 * `fromBinary` spent about 50 ms on a limit-1,000 answer, several times what the server spends
 * on the call. This one gives the message `fromBinary` gives (src/client/decode-candidates.test.ts
 * checks on engine answers and edge cases): plain objects with their `$typeName`, proto3
 * defaults set, maps as objects without prototype, int64 as bigint, no `explanation` when absent.
 * The explanation (small, and only on an empty answer) is decoded by `fromBinary`. A field it
 * does not know (an answer from a newer server) or an unexpected wire type hands the whole
 * answer to `fromBinary`, which keeps what it does not know as protobuf-es always does.
 */
import { fromBinary } from "@bufbuild/protobuf";
import {
  type Allocation,
  AllocationSchema,
  type Candidate,
  CandidateSchema,
  ExplanationSchema,
  type FindCandidatesResponse,
  FindCandidatesResponseSchema,
  type GroupMapping,
  GroupMappingSchema,
  type ProviderSummary,
  ProviderSummarySchema,
  type ResourceSummary,
  ResourceSummarySchema,
} from "../gen/mulligan/resource/v1/resource_pb.js";

/** Thrown inside the decoder when it meets something it leaves to fromBinary. */
class NotMine extends Error {}

const VARINT = 0;
const BYTES = 2;

/** Field numbers of the messages decoded here (resource.proto). */
const RESPONSE = { candidates: 1, summaries: 2, explanation: 3 };

/** Strings up to this many bytes are looked up before they are made (see Reader.string). */
const SHORT = 64;
/** Slots of the table of strings seen (a power of two; a newer string takes an old one's slot). */
const SLOTS = 4096;

class Reader {
  pos = 0;
  private readonly bytes: Buffer;
  /** Strings decoded from this answer, by a hash of their bytes: where they are and the value. */
  private readonly seen: ({ start: number; end: number; value: string } | undefined)[] = new Array(
    SLOTS,
  );
  constructor(data: Uint8Array) {
    this.bytes = Buffer.isBuffer(data)
      ? data
      : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  }

  get length(): number {
    return this.bytes.length;
  }

  /** A varint of at most 32 bits (tags and lengths). */
  uint32(): number {
    const b = this.bytes;
    let byte = b[this.pos++] as number;
    if (byte < 0x80) return byte;
    let value = byte & 0x7f;
    for (let shift = 7; shift < 35; shift += 7) {
      byte = b[this.pos++] as number;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) {
        if (this.pos > b.length) throw new NotMine();
        return value;
      }
    }
    throw new NotMine();
  }

  /** An int64 varint as bigint (two's complement, as protobuf-es gives it). */
  int64(): bigint {
    const b = this.bytes;
    let low = 0;
    for (let i = 0, shift = 0; i < 7; i++, shift += 7) {
      const byte = b[this.pos++] as number;
      low += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) {
        if (this.pos > b.length) throw new NotMine();
        return BigInt(low);
      }
    }
    let value = BigInt(low);
    for (let shift = 49n; shift < 70n; shift += 7n) {
      const byte = b[this.pos++];
      if (byte === undefined) throw new NotMine();
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return BigInt.asIntN(64, value);
    }
    throw new NotMine();
  }

  /** The end of a length-delimited field that starts here. */
  end(): number {
    const length = this.uint32();
    const end = this.pos + length;
    if (end > this.bytes.length) throw new NotMine();
    return end;
  }

  /**
   * A string field. An answer repeats the same few thousand strings (provider UUIDs and names,
   * classes, capabilities) tens of thousands of times: a short one is looked up by its bytes
   * in a small table of the strings this answer decoded, and made only when it is not there.
   */
  string(): string {
    const end = this.end();
    const start = this.pos;
    this.pos = end;
    const length = end - start;
    if (length > SHORT) return this.bytes.toString("utf8", start, end);
    const b = this.bytes;
    let hash = length;
    for (let i = start; i < end; i++) hash = Math.imul(hash ^ (b[i] as number), 0x01000193);
    const slot = (hash ^ (hash >>> 15)) & (SLOTS - 1);
    const known = this.seen[slot];
    if (known !== undefined && known.end - known.start === length) {
      let i = 0;
      while (i < length && b[known.start + i] === b[start + i]) i++;
      if (i === length) return known.value;
    }
    const value = b.toString("utf8", start, end);
    this.seen[slot] = { start, end, value };
    return value;
  }

  subarray(end: number): Uint8Array {
    const out = this.bytes.subarray(this.pos, end);
    this.pos = end;
    return out;
  }
}

/** The tag's field number, checking its wire type. */
function field(tag: number, wireType: number): number {
  if ((tag & 7) !== wireType) throw new NotMine();
  return tag >>> 3;
}

/**
 * Reads the fields of one message up to `end`, all length-delimited, each through `take` (false:
 * a field it does not know).
 */
function fields(r: Reader, end: number, take: (n: number) => boolean): void {
  while (r.pos < end) if (!take(field(r.uint32(), BYTES))) throw new NotMine();
  if (r.pos !== end) throw new NotMine();
}

/** FindCandidatesResponse from its binary form, as fromBinary gives it. */
export function decodeFindCandidatesResponse(data: Uint8Array): FindCandidatesResponse {
  return parseFindCandidatesResponse(data) ?? fromBinary(FindCandidatesResponseSchema, data);
}

/** The hand-written parse alone: null when it leaves the answer to fromBinary. */
export function parseFindCandidatesResponse(data: Uint8Array): FindCandidatesResponse | null {
  try {
    return decodeResponse(new Reader(data));
  } catch (err) {
    if (err instanceof NotMine) return null;
    throw err;
  }
}

function decodeResponse(r: Reader): FindCandidatesResponse {
  const out: FindCandidatesResponse = {
    $typeName: FindCandidatesResponseSchema.typeName,
    candidates: [],
    providerSummaries: [],
  };
  while (r.pos < r.length) {
    const tag = r.uint32();
    const n = field(tag, BYTES);
    const end = r.end();
    if (n === RESPONSE.candidates) out.candidates.push(candidate(r, end));
    else if (n === RESPONSE.summaries) out.providerSummaries.push(summary(r, end));
    else if (n === RESPONSE.explanation && out.explanation === undefined)
      out.explanation = fromBinary(ExplanationSchema, r.subarray(end));
    // (A second explanation merges into the first: fromBinary does that.)
    else throw new NotMine();
  }
  return out;
}

function candidate(r: Reader, end: number): Candidate {
  const out: Candidate = { $typeName: CandidateSchema.typeName, allocations: [], mappings: [] };
  fields(r, end, (n) => {
    if (n === 1) out.allocations.push(allocation(r, r.end()));
    else if (n === 2) out.mappings.push(mapping(r, r.end()));
    else return false;
    return true;
  });
  return out;
}

function allocation(r: Reader, end: number): Allocation {
  const out: Allocation = {
    $typeName: AllocationSchema.typeName,
    providerUuid: "",
    providerName: "",
    resources: {},
  };
  fields(r, end, (n) => {
    if (n === 1) out.providerUuid = r.string();
    else if (n === 2) out.providerName = r.string();
    else if (n === 3) {
      // A map entry: key = 1 (string), value = 2 (int64), either may be absent.
      const entryEnd = r.end();
      let key = "";
      let value = 0n;
      while (r.pos < entryEnd) {
        const tag = r.uint32();
        if (tag === ((1 << 3) | BYTES)) key = r.string();
        else if (tag === ((2 << 3) | VARINT)) value = r.int64();
        else throw new NotMine();
      }
      if (r.pos !== entryEnd) throw new NotMine();
      out.resources[key] = value;
    } else return false;
    return true;
  });
  return out;
}

function mapping(r: Reader, end: number): GroupMapping {
  const out: GroupMapping = {
    $typeName: GroupMappingSchema.typeName,
    suffix: "",
    providerUuids: [],
  };
  fields(r, end, (n) => {
    if (n === 1) out.suffix = r.string();
    else if (n === 2) out.providerUuids.push(r.string());
    else return false;
    return true;
  });
  return out;
}

function summary(r: Reader, end: number): ProviderSummary {
  const out: ProviderSummary = {
    $typeName: ProviderSummarySchema.typeName,
    providerUuid: "",
    providerName: "",
    parentUuid: "",
    rootUuid: "",
    resources: [],
    capabilities: [],
  };
  fields(r, end, (n) => {
    if (n === 1) out.providerUuid = r.string();
    else if (n === 2) out.providerName = r.string();
    else if (n === 3) out.parentUuid = r.string();
    else if (n === 4) out.rootUuid = r.string();
    else if (n === 5) out.resources.push(resource(r, r.end()));
    else if (n === 6) out.capabilities.push(r.string());
    else return false;
    return true;
  });
  return out;
}

function resource(r: Reader, end: number): ResourceSummary {
  const out: ResourceSummary = {
    $typeName: ResourceSummarySchema.typeName,
    resourceClass: "",
    capacity: 0n,
    used: 0n,
  };
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === ((1 << 3) | BYTES)) out.resourceClass = r.string();
    else if (tag === ((2 << 3) | VARINT)) out.capacity = r.int64();
    else if (tag === ((3 << 3) | VARINT)) out.used = r.int64();
    else throw new NotMine();
  }
  if (r.pos !== end) throw new NotMine();
  return out;
}

/**
 * A hand-written binary encoder for FindCandidatesResponse, the one large answer of the API
 * (about 1.4 MB at limit 1,000). protobuf-es's reflective `toBinary` spent about 80 ms on one
 * such answer (a UTF-8 encoder call per string, a buffer copy per nesting level); this one sizes
 * every message first and writes once into a single buffer. It produces the same bytes as
 * `toBinary` (fields in number order, proto3 defaults omitted, map entries with key and value),
 * which test/wire-encode.test.ts checks on engine answers.
 */
import {
  type Allocation,
  type Candidate,
  type Explanation,
  type FilterStep,
  type FindCandidatesResponse,
  FindCandidatesResponseSchema,
  type GroupMapping,
  type ProviderSummary,
  type ResourceSummary,
} from "../gen/mulligan/resource/v1/resource_pb.js";
import type { MessageEncoder } from "../platform/service-module.js";

/** Wire type 0 (varint) and 2 (length-delimited) tags of fields 1–15: one byte each. */
const varintTag = (field: number) => (field << 3) | 0;
const bytesTag = (field: number) => (field << 3) | 2;

function varintLength(n: number): number {
  let length = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    length++;
  }
  return length;
}

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A non-negative value that fits a double exactly, or undefined. */
function small(v: bigint | number): number | undefined {
  if (typeof v === "number") return v >= 0 && Number.isSafeInteger(v) ? v : undefined;
  return v >= 0n && v <= SAFE ? Number(v) : undefined;
}

/** int64 and int32 go on the wire as 64-bit two's complement varints. */
function int64Length(v: bigint | number): number {
  const n = small(v);
  if (n !== undefined) return varintLength(n);
  let u = BigInt.asUintN(64, BigInt(v));
  let length = 1;
  while (u >= 0x80n) {
    u >>= 7n;
    length++;
  }
  return length;
}

/** A string with its tag, always written (a repeated element or a map key). */
function stringElement(s: string): number {
  const n = Buffer.byteLength(s);
  return 1 + varintLength(n) + n;
}

/** A string field with its tag (0 when proto3 omits it, the empty string). */
const stringField = (s: string) => (s === "" ? 0 : stringElement(s));

/** An integer field with its tag (0 when proto3 omits it, zero). */
const intField = (v: bigint | number) => (v === 0 || v === 0n ? 0 : 1 + int64Length(v));

const messageField = (size: number) => 1 + varintLength(size) + size;

class Writer {
  readonly buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  varint(n: number): void {
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }
  int64(v: bigint | number): void {
    const n = small(v);
    if (n !== undefined) {
      this.varint(n);
      return;
    }
    let u = BigInt.asUintN(64, BigInt(v));
    while (u >= 0x80n) {
      this.buf[this.pos++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.buf[this.pos++] = Number(u);
  }
  /** A string with its tag, always (a repeated element or a map key). */
  element(field: number, s: string): void {
    this.buf[this.pos++] = bytesTag(field);
    const n = Buffer.byteLength(s);
    this.varint(n);
    this.pos += this.buf.write(s, this.pos, n, "utf8");
  }
  /** A string field, omitted when empty (proto3). */
  string(field: number, s: string): void {
    if (s !== "") this.element(field, s);
  }
  /** An integer with its tag, always (a map value). */
  integer(field: number, v: bigint | number): void {
    this.buf[this.pos++] = varintTag(field);
    this.int64(v);
  }
  /** An integer field, omitted when zero (proto3). */
  int(field: number, v: bigint | number): void {
    if (v !== 0 && v !== 0n) this.integer(field, v);
  }
  message(field: number, size: number): void {
    this.buf[this.pos++] = bytesTag(field);
    this.varint(size);
  }
}

/**
 * Sizes are computed depth-first and kept in visiting order, so the writer, visiting in the
 * same order, takes each nested message's length prefix from the front.
 */
class Sizes {
  private readonly list: number[] = [];
  private next = 0;
  open(): number {
    return this.list.push(0) - 1;
  }
  close(at: number, size: number): number {
    this.list[at] = size;
    return size;
  }
  take(): number {
    return this.list[this.next++] as number;
  }
}

function mapEntrySize(key: string, value: bigint): number {
  return stringElement(key) + 1 + int64Length(value);
}

function sizeAllocation(a: Allocation, s: Sizes): number {
  const at = s.open();
  let n = stringField(a.providerUuid) + stringField(a.providerName);
  for (const [key, value] of Object.entries(a.resources))
    n += messageField(mapEntrySize(key, value));
  return s.close(at, n);
}

function sizeMapping(m: GroupMapping, s: Sizes): number {
  const at = s.open();
  let n = stringField(m.suffix);
  for (const p of m.providerUuids) n += stringElement(p);
  return s.close(at, n);
}

function sizeCandidate(c: Candidate, s: Sizes): number {
  const at = s.open();
  let n = 0;
  for (const a of c.allocations) n += messageField(sizeAllocation(a, s));
  for (const m of c.mappings) n += messageField(sizeMapping(m, s));
  return s.close(at, n);
}

function sizeResource(r: ResourceSummary, s: Sizes): number {
  const at = s.open();
  const n = stringField(r.resourceClass) + intField(r.capacity) + intField(r.used);
  return s.close(at, n);
}

function sizeSummary(p: ProviderSummary, s: Sizes): number {
  const at = s.open();
  let n =
    stringField(p.providerUuid) +
    stringField(p.providerName) +
    stringField(p.parentUuid) +
    stringField(p.rootUuid);
  for (const r of p.resources) n += messageField(sizeResource(r, s));
  for (const c of p.capabilities) n += stringElement(c);
  return s.close(at, n);
}

function sizeStep(f: FilterStep, s: Sizes): number {
  const at = s.open();
  const n =
    stringField(f.constraint) +
    stringField(f.suffix) +
    intField(f.before) +
    intField(f.after) +
    stringField(f.detail);
  return s.close(at, n);
}

function sizeExplanation(e: Explanation, s: Sizes): number {
  const at = s.open();
  let n = stringField(e.summary);
  for (const f of e.steps) n += messageField(sizeStep(f, s));
  return s.close(at, n);
}

function writeAllocation(a: Allocation, w: Writer): void {
  w.string(1, a.providerUuid);
  w.string(2, a.providerName);
  for (const [key, value] of Object.entries(a.resources)) {
    w.message(3, mapEntrySize(key, value));
    w.element(1, key);
    w.integer(2, value);
  }
}

function writeMapping(m: GroupMapping, w: Writer): void {
  w.string(1, m.suffix);
  for (const p of m.providerUuids) w.element(2, p);
}

function writeCandidate(c: Candidate, w: Writer, s: Sizes): void {
  for (const a of c.allocations) {
    w.message(1, s.take());
    writeAllocation(a, w);
  }
  for (const m of c.mappings) {
    w.message(2, s.take());
    writeMapping(m, w);
  }
}

function writeSummary(p: ProviderSummary, w: Writer, s: Sizes): void {
  w.string(1, p.providerUuid);
  w.string(2, p.providerName);
  w.string(3, p.parentUuid);
  w.string(4, p.rootUuid);
  for (const r of p.resources) {
    w.message(5, s.take());
    w.string(1, r.resourceClass);
    w.int(2, r.capacity);
    w.int(3, r.used);
  }
  for (const c of p.capabilities) w.element(6, c);
}

function writeExplanation(e: Explanation, w: Writer, s: Sizes): void {
  w.string(1, e.summary);
  for (const f of e.steps) {
    w.message(2, s.take());
    w.string(1, f.constraint);
    w.string(2, f.suffix);
    w.int(3, f.before);
    w.int(4, f.after);
    w.string(5, f.detail);
  }
}

/**
 * Encodings kept for messages that will be sent again (keepEncoding): null until the message is
 * first encoded. Keyed by the message object, so an encoding lives as long as its message (the
 * kept search's records hold theirs: wire-claims.ts).
 */
const keptBytes = new WeakMap<Candidate | ProviderSummary, Uint8Array | null>();

/**
 * Marks a candidate or provider summary as one that will be sent again unchanged (messages are
 * never changed once built): its encoding is kept from its next encoding on and copied after.
 */
export function keepEncoding(message: Candidate | ProviderSummary): void {
  if (!keptBytes.has(message)) keptBytes.set(message, null);
}

/**
 * The encoding of each message of a list as kept (undefined: not kept; null: to keep once
 * written), decided once for the sizing and the writing alike.
 */
function keptOf(list: readonly (Candidate | ProviderSummary)[]): (Uint8Array | null | undefined)[] {
  return list.map((m) => keptBytes.get(m));
}

/** Writes one message body (sized in `s` unless kept), keeping its bytes when asked. */
function writeKept<M extends Candidate | ProviderSummary>(
  field: number,
  m: M,
  kept: Uint8Array | null | undefined,
  w: Writer,
  s: Sizes,
  write: (m: M, w: Writer, s: Sizes) => void,
): void {
  if (kept) {
    w.message(field, kept.length);
    w.buf.set(kept, w.pos);
    w.pos += kept.length;
    return;
  }
  w.message(field, s.take());
  const start = w.pos;
  write(m, w, s);
  // A copy: a view would keep the whole answer's buffer alive.
  if (kept === null) keptBytes.set(m, Buffer.from(w.buf.subarray(start, w.pos)));
}

/** The bytes `toBinary(FindCandidatesResponseSchema, res)` gives, in one pass over one buffer. */
export function encodeFindCandidatesResponse(res: FindCandidatesResponse): Uint8Array {
  const s = new Sizes();
  const keptCandidates = keptOf(res.candidates);
  const keptSummaries = keptOf(res.providerSummaries);
  let total = 0;
  res.candidates.forEach((c, i) => {
    total += messageField(keptCandidates[i]?.length ?? sizeCandidate(c, s));
  });
  res.providerSummaries.forEach((p, i) => {
    total += messageField(keptSummaries[i]?.length ?? sizeSummary(p, s));
  });
  if (res.explanation) total += messageField(sizeExplanation(res.explanation, s));
  const w = new Writer(total);
  res.candidates.forEach((c, i) => {
    writeKept(1, c, keptCandidates[i], w, s, writeCandidate);
  });
  res.providerSummaries.forEach((p, i) => {
    writeKept(2, p, keptSummaries[i], w, s, writeSummary);
  });
  if (res.explanation) {
    w.message(3, s.take());
    writeExplanation(res.explanation, w, s);
  }
  if (w.pos !== total) throw new Error(`FindCandidatesResponse: wrote ${w.pos} of ${total} bytes`);
  return w.buf;
}

export const findCandidatesEncoder: MessageEncoder = {
  schema: FindCandidatesResponseSchema,
  encode: (message) => encodeFindCandidatesResponse(message as FindCandidatesResponse),
};

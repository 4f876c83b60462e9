/**
 * UUIDv7 identifiers: time-ordered, so new rows land at the end of indexes, and still random
 * enough (74 bits) to be unguessable.
 */
import { randomBytes } from "node:crypto";

export function newUuid(): string {
  const bytes = randomBytes(16);
  const ms = BigInt(Date.now());
  for (let i = 0; i < 6; i++) bytes[i] = Number((ms >> BigInt(8 * (5 - i))) & 0xffn);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x70;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The current time as stored: ISO-8601 UTC with milliseconds (sorts as text). */
export function nowIso(): string {
  return new Date().toISOString();
}

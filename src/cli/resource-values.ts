/**
 * Parsers for the values of resource commands: resource amounts (`VCPU=2,MEMORY_MB=512`),
 * capability lists, comma lists and RFC 3339 time windows. They throw UsageError, so a mistake
 * exits 2 before any call is made. Shared by the query flags, `claim` and `reservation list`.
 */
import { create } from "@bufbuild/protobuf";
import { type Timestamp, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Command } from "commander";
import { type TimeWindow, TimeWindowSchema } from "../gen/mulligan/resource/v1/resource_pb.js";
import { UsageError } from "./exit-codes.js";
import { count } from "./parse.js";

/** Resource class and capability names (standard or CUSTOM_*), as the server spells them. */
const CLASS_NAME = /^[A-Z0-9_]{1,255}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

/** `CLASS=AMOUNT,…` ("VCPU=2,MEMORY_MB=512") as class → amount; amounts are whole and ≥ 1. */
export function resourcesOf(text: string, what: string): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const pair of listOf(text, what)) {
    const eq = pair.indexOf("=");
    const name = pair.slice(0, eq);
    const amount = pair.slice(eq + 1);
    if (eq <= 0 || !CLASS_NAME.test(name))
      throw new UsageError(`${what} "${pair}" must be CLASS=AMOUNT with CLASS like VCPU`);
    if (name in out) throw new UsageError(`${what} names ${name} twice`);
    if (count(amount, `${what} ${name}`) < 1)
      throw new UsageError(`${what} ${name} must be at least 1`);
    out[name] = BigInt(amount);
  }
  return out;
}

/** `A,B,C` as a list of capability names (upper-case, digits and `_`). */
export function capabilitiesOf(text: string, what: string): string[] {
  const names = listOf(text, what);
  for (const n of names)
    if (!CLASS_NAME.test(n))
      throw new UsageError(`${what} "${n}" is not a capability name (like HW_CPU_X86_AVX2)`);
  return names;
}

/** `a,b,c` as a non-empty list of non-empty items (names or UUIDs). */
export function listOf(text: string, what: string): string[] {
  const items = text.split(",").map((s) => s.trim());
  if (items.some((s) => s === "")) throw new UsageError(`${what} "${text}" has an empty item`);
  return items;
}

/** An RFC 3339 time ("2026-12-01T08:00:00Z") as a Timestamp. */
export function timeOf(text: string, what: string): Timestamp {
  const date = new Date(text);
  if (!RFC3339.test(text.trim()) || Number.isNaN(date.getTime()))
    throw new UsageError(`${what} "${text}" must be an RFC 3339 time like 2026-12-01T08:00:00Z`);
  return timestampFromDate(date);
}

/** `--window-start` / `--window-end` as a TimeWindow (undefined when neither is given). */
export function windowOf(o: WindowFlags): TimeWindow | undefined {
  if (o.windowStart === undefined && o.windowEnd === undefined) return undefined;
  const start = o.windowStart === undefined ? undefined : timeOf(o.windowStart, "--window-start");
  const end = o.windowEnd === undefined ? undefined : timeOf(o.windowEnd, "--window-end");
  const after = (a: Timestamp, b: Timestamp) =>
    a.seconds > b.seconds || (a.seconds === b.seconds && a.nanos > b.nanos);
  if (start && end && !after(end, start))
    throw new UsageError("--window-end must be after --window-start");
  return create(TimeWindowSchema, { start, end });
}

/** The time-window flags (`claim`, `reservation list` and the query flags). */
export interface WindowFlags {
  windowStart?: string;
  windowEnd?: string;
}

/** Adds `--window-start` and `--window-end`. */
export function withWindow(cmd: Command, what: string): Command {
  return cmd
    .option("--window-start <time>", `start of ${what} (RFC 3339; default now)`)
    .option("--window-end <time>", `end of ${what}, exclusive (RFC 3339; default open-ended)`);
}

/** One inventory entry as `inventory set` takes it (what SetInventories expects per class). */
export interface InventoryInput {
  resourceClass: string;
  total: bigint;
  reserved: bigint;
  minUnit: bigint;
  maxUnit: bigint;
  stepSize: bigint;
  allocationRatio: number;
}

/**
 * `CLASS=TOTAL[,reserved=N][,min=N][,max=N][,step=N][,ratio=X]` as an inventory; min, max,
 * step and ratio default to 1, TOTAL, 1 and 1.0 (Placement's defaults).
 */
export function inventoryOf(text: string): InventoryInput {
  const [head = "", ...rest] = listOf(text, "inventory");
  const eq = head.indexOf("=");
  const resourceClass = head.slice(0, eq);
  if (eq <= 0 || !CLASS_NAME.test(resourceClass))
    throw new UsageError(`inventory "${text}" must start with CLASS=TOTAL (like VCPU=32)`);
  const total = count(head.slice(eq + 1), `${resourceClass} total`);
  const fields = new Map<string, string>();
  for (const pair of rest) {
    const [key = "", value, extra] = pair.split("=");
    if (!INVENTORY_KEYS.includes(key) || value === undefined || extra !== undefined)
      throw new UsageError(
        `${resourceClass}: "${pair}" must be KEY=VALUE with KEY one of ${INVENTORY_KEYS.join(", ")}`,
      );
    if (fields.has(key)) throw new UsageError(`${resourceClass}: ${key} is given twice`);
    fields.set(key, value);
  }
  const int = (key: string, fallback: number) => {
    const v = fields.get(key);
    return BigInt(v === undefined ? fallback : count(v, `${resourceClass} ${key}`));
  };
  const ratioText = fields.get("ratio");
  const allocationRatio = ratioText === undefined ? 1 : Number(ratioText);
  if (ratioText !== undefined && (ratioText.trim() === "" || !(allocationRatio > 0)))
    throw new UsageError(`${resourceClass} ratio "${ratioText}" must be a number above 0`);
  return {
    resourceClass,
    total: BigInt(total),
    reserved: int("reserved", 0),
    minUnit: int("min", 1),
    maxUnit: int("max", total),
    stepSize: int("step", 1),
    allocationRatio,
  };
}

const INVENTORY_KEYS = ["reserved", "min", "max", "step", "ratio"];

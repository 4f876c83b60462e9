/**
 * Parsers for option values (enum names, numbers, KEY=VALUE properties). They throw
 * UsageError, so a mistake in the command line exits 2 before any call is made.
 */
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { UsageError } from "./exit-codes.js";

/**
 * The enum value named `text` ("provider-group", "PROVIDER_GROUP"), excluding the
 * UNSPECIFIED zero value. `what` names the option in the error.
 */
export function enumValue<E extends Record<string, string | number>>(
  enumObject: E,
  text: string,
  what: string,
): E[keyof E] {
  const key = text.trim().toUpperCase().replace(/-/g, "_");
  const value = enumObject[key];
  if (typeof value !== "number" || value === 0)
    throw new UsageError(`${what} "${text}" is not one of ${enumChoices(enumObject)}`);
  return value as E[keyof E];
}

/** The names an enum option accepts, for help and errors ("internal, external"). */
export function enumChoices(enumObject: Record<string, string | number>): string {
  return Object.entries(enumObject)
    .filter(([k, v]) => typeof v === "number" && v !== 0 && Number.isNaN(Number(k)))
    .map(([k]) => k.toLowerCase().replace(/_/g, "-"))
    .join(", ");
}

/** A non-negative integer option (`--limit`, `--ttl`). */
export function count(text: string, what: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n))
    throw new UsageError(`${what} "${text}" must be a non-negative integer`);
  return n;
}

/** A number option (`--minimum`). */
export function number(text: string, what: string): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n))
    throw new UsageError(`${what} "${text}" must be a number`);
  return n;
}

/**
 * `KEY=VALUE` pairs as a JSON object. VALUE is read as JSON when it is valid JSON (numbers,
 * true/false, null, "quoted strings"), else as a plain string; `KEY=null` removes a property.
 */
export function properties(pairs: readonly string[]): JsonObject {
  const out: JsonObject = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UsageError(`property "${pair}" must be KEY=VALUE`);
    out[pair.slice(0, eq)] = jsonOrString(pair.slice(eq + 1));
  }
  return out;
}

/** A value read as JSON when it parses, else the text itself. */
export function jsonOrString(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return text;
  }
}

/** Commander collector for repeatable options (`--tag a --tag b`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

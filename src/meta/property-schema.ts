/**
 * The JSON-schema subset of property definitions: checking a schema when it is defined, and
 * checking values against it when objects are given properties. Both return descriptions of
 * what is wrong instead of throwing, so callers decide the field and reason to report.
 */
import { isIPv4, isIPv6 } from "node:net";
import { UUID_PATTERN } from "../platform/validate.js";
import type { Json, PropertySchema } from "./model.js";

/** Named string formats a schema may require. */
export const PROPERTY_FORMATS = [
  "uuid",
  "ipv4",
  "ipv6",
  "mac",
  "hostname",
  "date-time",
  "uri",
] as const;

/** Longest pattern accepted (patterns are compiled for every value checked). */
export const MAX_PATTERN_LENGTH = 512;
/** Longest string value: values are indexed for FindObjects. */
export const MAX_STRING_VALUE = 1024;
/** Most allowed_values in one schema. */
export const MAX_ALLOWED_VALUES = 100;

/** What is wrong with one part of a schema; `field` is relative to the schema message. */
export interface SchemaProblem {
  field: string;
  description: string;
}

const MAC = /^[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}$/;
const HOST_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

const FORMAT_CHECKS: Record<(typeof PROPERTY_FORMATS)[number], (s: string) => boolean> = {
  uuid: (s) => UUID_PATTERN.test(s),
  ipv4: (s) => isIPv4(s),
  ipv6: (s) => isIPv6(s),
  mac: (s) => MAC.test(s),
  hostname: (s) => s.length <= 253 && s.split(".").every((l) => HOST_LABEL.test(l)),
  "date-time": (s) => DATE_TIME.test(s) && !Number.isNaN(Date.parse(s)),
  uri: (s) => {
    if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(s)) return false;
    try {
      new URL(s);
      return true;
    } catch {
      return false;
    }
  },
};

function isFormat(name: string): name is keyof typeof FORMAT_CHECKS {
  return name in FORMAT_CHECKS;
}

/** The pattern as a whole-value matcher, or undefined if it does not compile. */
function compilePattern(pattern: string): RegExp | undefined {
  try {
    return new RegExp(`^(?:${pattern})$`, "u");
  } catch {
    return undefined;
  }
}

/** Every problem of a schema; empty when it is sound. */
export function checkSchema(schema: PropertySchema): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  const numeric = schema.type === "integer" || schema.type === "number";
  const isString = schema.type === "string";
  for (const bound of ["minimum", "maximum"] as const) {
    const value = schema[bound];
    if (value === undefined) continue;
    if (!numeric)
      problems.push({ field: bound, description: "applies only to INTEGER and NUMBER" });
    else if (!Number.isFinite(value))
      problems.push({ field: bound, description: "must be finite" });
  }
  if (
    numeric &&
    schema.minimum !== undefined &&
    schema.maximum !== undefined &&
    schema.minimum > schema.maximum
  )
    problems.push({ field: "minimum", description: "must not be greater than maximum" });
  if (schema.pattern !== "") {
    if (!isString) problems.push({ field: "pattern", description: "applies only to STRING" });
    else if (schema.pattern.length > MAX_PATTERN_LENGTH)
      problems.push({
        field: "pattern",
        description: `must be at most ${MAX_PATTERN_LENGTH} characters`,
      });
    else if (!compilePattern(schema.pattern))
      problems.push({ field: "pattern", description: "is not a valid regular expression" });
  }
  if (schema.format !== "") {
    if (!isString) problems.push({ field: "format", description: "applies only to STRING" });
    else if (!isFormat(schema.format))
      problems.push({
        field: "format",
        description: `must be one of ${PROPERTY_FORMATS.join(", ")}`,
      });
  }
  if (schema.allowedValues.length > MAX_ALLOWED_VALUES)
    problems.push({
      field: "allowed_values",
      description: `must hold at most ${MAX_ALLOWED_VALUES} values`,
    });
  // Allowed values must themselves satisfy the rest of the schema (only when that is sound).
  if (problems.length === 0) {
    const check = valueChecker({ ...schema, allowedValues: [] });
    schema.allowedValues.forEach((value, i) => {
      const problem = check(value);
      if (problem) problems.push({ field: `allowed_values[${i}]`, description: problem });
    });
  }
  return problems;
}

/**
 * A checker of values against a sound schema (see checkSchema): returns what is wrong with a
 * value, or undefined if it is valid. Compiles the pattern once for many values.
 */
export function valueChecker(schema: PropertySchema): (value: Json) => string | undefined {
  const pattern = schema.pattern !== "" ? compilePattern(schema.pattern) : undefined;
  const allowed = new Set(schema.allowedValues.map((v) => JSON.stringify(v)));
  return (value) => {
    switch (schema.type) {
      case "boolean":
        if (typeof value !== "boolean") return "must be a boolean";
        break;
      case "integer":
      case "number":
        if (typeof value !== "number" || !Number.isFinite(value)) return "must be a number";
        if (schema.type === "integer" && !Number.isInteger(value)) return "must be a whole number";
        if (schema.minimum !== undefined && value < schema.minimum)
          return `must be at least ${schema.minimum}`;
        if (schema.maximum !== undefined && value > schema.maximum)
          return `must be at most ${schema.maximum}`;
        break;
      case "string":
        if (typeof value !== "string") return "must be a string";
        if (value.length > MAX_STRING_VALUE)
          return `must be at most ${MAX_STRING_VALUE} characters`;
        if (pattern && !pattern.test(value)) return `must match the pattern ${schema.pattern}`;
        if (isFormat(schema.format) && !FORMAT_CHECKS[schema.format](value))
          return `must be a valid ${schema.format}`;
        break;
    }
    if (allowed.size > 0 && !allowed.has(JSON.stringify(value)))
      return `must be one of ${[...allowed].join(", ")}`;
    return undefined;
  };
}

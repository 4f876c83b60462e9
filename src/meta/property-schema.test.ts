/**
 * The JSON-schema subset of property definitions: which schemas are refused (and on which
 * field), and which values each kind of schema accepts and refuses.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Json, PropertySchema } from "./model.js";
import { checkSchema, valueChecker } from "./property-schema.js";

const schema = (s: Partial<PropertySchema> & Pick<PropertySchema, "type">): PropertySchema => ({
  allowedValues: [],
  pattern: "",
  format: "",
  ...s,
});

const badSchemas: [string, PropertySchema, string][] = [
  ["bounds on a string", schema({ type: "string", minimum: 1 }), "minimum"],
  ["bounds on a boolean", schema({ type: "boolean", maximum: 1 }), "maximum"],
  ["minimum above maximum", schema({ type: "integer", minimum: 5, maximum: 4 }), "minimum"],
  ["infinite bound", schema({ type: "number", maximum: Number.POSITIVE_INFINITY }), "maximum"],
  ["pattern on a number", schema({ type: "number", pattern: "a" }), "pattern"],
  ["pattern that does not compile", schema({ type: "string", pattern: "a(" }), "pattern"],
  ["pattern too long", schema({ type: "string", pattern: "a".repeat(513) }), "pattern"],
  ["format on an integer", schema({ type: "integer", format: "uuid" }), "format"],
  ["unknown format", schema({ type: "string", format: "email" }), "format"],
  [
    "allowed value of another type",
    schema({ type: "integer", allowedValues: [1, "2"] }),
    "allowed_values[1]",
  ],
  [
    "allowed value not whole",
    schema({ type: "integer", allowedValues: [1.5] }),
    "allowed_values[0]",
  ],
  [
    "allowed value out of bounds",
    schema({ type: "number", maximum: 3, allowedValues: [4] }),
    "allowed_values[0]",
  ],
  [
    "allowed value off pattern",
    schema({ type: "string", pattern: "[a-z]+", allowedValues: ["A"] }),
    "allowed_values[0]",
  ],
  [
    "too many allowed values",
    schema({ type: "integer", allowedValues: Array.from({ length: 101 }, (_, i) => i) }),
    "allowed_values",
  ],
];

for (const [title, s, field] of badSchemas)
  test(`schema refused: ${title}`, () => {
    const problems = checkSchema(s);
    assert.ok(
      problems.some((p) => p.field === field),
      `expected a problem on ${field}, got ${JSON.stringify(problems)}`,
    );
  });

test("sound schemas pass", () => {
  for (const s of [
    schema({ type: "string" }),
    schema({ type: "string", pattern: "rack-[0-9]+", allowedValues: ["rack-1", "rack-2"] }),
    schema({ type: "integer", minimum: 0, maximum: 0 }),
    schema({ type: "number", minimum: -1.5 }),
    schema({ type: "boolean", allowedValues: [true] }),
    schema({ type: "string", format: "ipv4" }),
  ])
    assert.deepEqual(checkSchema(s), [], JSON.stringify(s));
});

const values: [string, PropertySchema, Json[], Json[]][] = [
  ["boolean", schema({ type: "boolean" }), [true, false], ["true", 1, null, [], {}]],
  ["integer", schema({ type: "integer" }), [0, -7, 2 ** 40], [1.5, "1", true, null]],
  ["integer bounds", schema({ type: "integer", minimum: 1, maximum: 3 }), [1, 2, 3], [0, 4]],
  ["number", schema({ type: "number", minimum: 0.5 }), [0.5, 1e9], [0.49, "1"]],
  ["string", schema({ type: "string" }), ["", "x"], [1, false, "x".repeat(1025)]],
  ["enum", schema({ type: "string", allowedValues: ["a", "b"] }), ["a", "b"], ["c", "A"]],
  ["number enum", schema({ type: "number", allowedValues: [1, 2.5] }), [1, 2.5], [2]],
  // The pattern matches the whole value, not a part of it.
  [
    "pattern",
    schema({ type: "string", pattern: "[a-z]+|[0-9]+" }),
    ["abc", "42"],
    ["abc1", " abc", "a\n"],
  ],
  [
    "uuid",
    schema({ type: "string", format: "uuid" }),
    ["0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"],
    ["0190a1b2", "x"],
  ],
  ["ipv4", schema({ type: "string", format: "ipv4" }), ["10.0.0.1"], ["10.0.0.256", "::1"]],
  [
    "ipv6",
    schema({ type: "string", format: "ipv6" }),
    ["::1", "fe80::1"],
    ["10.0.0.1", "fe80:::1"],
  ],
  [
    "mac",
    schema({ type: "string", format: "mac" }),
    ["52:54:00:ab:cd:ef", "52-54-00-AB-CD-EF"],
    ["52:54:00:ab:cd", "52:54-00:ab:cd:ef"],
  ],
  [
    "hostname",
    schema({ type: "string", format: "hostname" }),
    ["node-1.example.com", "a"],
    ["-a.com", "a..b", "a_b", "x".repeat(64)],
  ],
  [
    "date-time",
    schema({ type: "string", format: "date-time" }),
    ["2026-11-22T10:00:00Z", "2026-11-22T10:00:00.5+01:00"],
    ["2026-11-22", "2026-13-40T10:00:00Z"],
  ],
  [
    "uri",
    schema({ type: "string", format: "uri" }),
    ["https://example.com/x", "urn:isbn:1"],
    ["example.com", "http://"],
  ],
];

for (const [title, s, good, bad] of values)
  test(`values against ${title}`, () => {
    const check = valueChecker(s);
    for (const value of good)
      assert.equal(check(value), undefined, `${JSON.stringify(value)} should pass`);
    for (const value of bad) assert.ok(check(value), `${JSON.stringify(value)} should fail`);
  });

/**
 * How results are printed: human tables by default (cli-table3; colour only on a terminal and
 * without NO_COLOR), or one JSON / YAML document for scripts. Messages are converted with
 * protobuf-es `toJson`, so JSON output is the proto3 JSON mapping of the API (every field
 * present, enums by name, timestamps RFC 3339), and lists print as arrays.
 */
import { type DescMessage, type MessageShape, toJson } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import Table from "cli-table3";
import pc from "picocolors";
import { stringify as toYaml } from "yaml";

export const FORMATS = ["table", "json", "yaml"] as const;
export type Format = (typeof FORMATS)[number];

/** Colours for stdout: on a terminal only, and never with NO_COLOR set. */
export const colors = pc.createColors(
  Boolean(process.stdout.isTTY) && !("NO_COLOR" in process.env),
);

/** One column of a table (or one row of a key/value table). */
export interface Column<T> {
  header: string;
  value(row: T): string;
}

/** Prints a list of messages: a table, or a JSON/YAML array. */
export function printList<S extends DescMessage>(
  format: Format,
  schema: S,
  rows: readonly MessageShape<S>[],
  columns: readonly Column<MessageShape<S>>[],
): void {
  if (format !== "table") {
    printDocument(
      format,
      rows.map((r) => messageJson(schema, r)),
    );
    return;
  }
  const table = newTable(columns.map((c) => c.header));
  for (const row of rows) table.push(columns.map((c) => c.value(row)));
  write(table.toString());
}

/** Prints one message: a two-column key/value table, or a JSON/YAML object. */
export function printOne<S extends DescMessage>(
  format: Format,
  schema: S,
  message: MessageShape<S>,
  fields: readonly Column<MessageShape<S>>[],
): void {
  if (format !== "table") {
    printDocument(format, messageJson(schema, message));
    return;
  }
  printPairs(fields.map((f) => [f.header, f.value(message)]));
}

/** Prints label/value pairs as a key/value table. */
export function printPairs(pairs: readonly (readonly [string, string])[]): void {
  const table = new Table({ chars: COMPACT, style: { head: [], border: [] } });
  for (const [label, value] of pairs) table.push({ [colors.bold(label)]: value });
  write(table.toString());
}

/** Prints a plain JSON value as one document (json or yaml). */
export function printDocument(format: Exclude<Format, "table">, value: unknown): void {
  write(format === "json" ? JSON.stringify(value, null, 2) : toYaml(value).trimEnd());
}

/** A message as proto3 JSON with every field present (stable keys for scripts). */
export function messageJson<S extends DescMessage>(schema: S, message: MessageShape<S>): unknown {
  return toJson(schema, message, { alwaysEmitImplicit: true });
}

/** Writes one line (or block) to stdout. */
export function write(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** A timestamp (or ISO string) as ISO-8601 without zero milliseconds, or "" when unset. */
export function time(ts: Timestamp | string | undefined): string {
  if (!ts) return "";
  const date = typeof ts === "string" ? new Date(ts) : timestampDate(ts);
  return date.toISOString().replace(/\.000Z$/, "Z");
}

/** An enum value by its short lower-case name ("internal" for VISIBILITY_INTERNAL). */
export function label(enumObject: Record<number, string>, value: number): string {
  const name = enumObject[value];
  return name ? name.toLowerCase().replace(/_/g, "-") : String(value);
}

/** Table borders without a rule between rows, so long lists stay readable. */
const COMPACT = { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" };

function newTable(headers: string[]) {
  return new Table({
    head: headers.map((h) => colors.bold(h)),
    chars: COMPACT,
    style: { head: [], border: [] },
  });
}

/** Confirms a deletion: a line for people, `{"deleted": REF}` for scripts. */
export function printDeleted(format: Format, kind: string, ref: string): void {
  if (format === "table") write(`deleted ${kind} ${ref}`);
  else printDocument(format, { deleted: ref });
}

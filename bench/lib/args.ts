/**
 * Option parsing for the workloads: node:util parseArgs with string options only, plus
 * converters that turn a bad value into a UsageError (bench/main.ts prints it with the usage
 * and exits 2).
 */
import { parseArgs } from "node:util";

export class UsageError extends Error {}

/** Parses `--name value` options (all strings); unknown options and positionals are errors. */
export function parseOptions<K extends string>(
  args: readonly string[],
  names: readonly K[],
): Partial<Record<K, string>> {
  try {
    const { values } = parseArgs({
      args: [...args],
      options: Object.fromEntries(names.map((n) => [n, { type: "string" as const }])),
      strict: true,
      allowPositionals: false,
    });
    return values as Partial<Record<K, string>>;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** A positive integer option, or `fallback` when absent. */
export function intOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a whole number`);
  return n;
}

/** A comma-separated list whose items must be among `allowed` (when given). */
export function listOption<T extends string>(
  value: string | undefined,
  name: string,
  fallback: readonly T[],
  allowed?: readonly T[],
): T[] {
  if (value === undefined) return [...fallback];
  const items = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = allowed ? items.filter((i) => !allowed.includes(i as T)) : [];
  if (items.length === 0 || bad.length > 0)
    throw new UsageError(
      `--${name}: ${bad.length ? `unknown ${bad.join(", ")}; ` : ""}expected ${allowed ? allowed.join(",") : "a list"}`,
    );
  return items as T[];
}

/** A comma-separated list of positive integers. */
export function intListOption(value: string | undefined, name: string, fallback: number[]) {
  return listOption(value, name, fallback.map(String)).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n <= 0)
      throw new UsageError(`--${name} must list positive whole numbers`);
    return n;
  });
}

/** --store sqlite|postgres|both as a list of store kinds. */
export function storesOption(
  value: string | undefined,
  fallback: "sqlite" | "postgres" | "both",
): ("sqlite" | "postgres")[] {
  const v = value ?? fallback;
  if (v === "both") return ["sqlite", "postgres"];
  if (v === "sqlite" || v === "postgres") return [v];
  throw new UsageError("--store must be sqlite, postgres or both");
}

/** --store sqlite|postgres (one store). */
export function storeOption(value: string | undefined): "sqlite" | "postgres" {
  const v = value ?? "sqlite";
  if (v === "sqlite" || v === "postgres") return v;
  throw new UsageError("--store must be sqlite or postgres");
}

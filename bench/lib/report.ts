/**
 * What every workload's JSON carries about the run (machine, versions, date), and the generic
 * human summary bench/main.ts prints without --json: scalars as "key: value", flat objects on
 * one line, arrays of flat objects as tables (bench/lib/stats.ts formatTable).
 */
import { execFileSync } from "node:child_process";
import { cpus, totalmem } from "node:os";
import { formatTable } from "./stats.js";

export interface MachineInfo {
  cpus: number;
  cpu_model: string;
  mem_gib: number;
  os: string;
  node: string;
  postgres: string;
  date: string;
}

/** The machine and software a run used. */
export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpus: list.length,
    cpu_model: list[0]?.model.trim() ?? "unknown",
    mem_gib: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: osName(),
    node: process.version,
    postgres: postgresVersion(),
    date: new Date().toISOString(),
  };
}

function osName(): string {
  try {
    const text = execFileSync("cat", ["/etc/os-release"], { encoding: "utf8" });
    return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(text)?.[1] ?? process.platform;
  } catch {
    return process.platform;
  }
}

function postgresVersion(): string {
  try {
    return execFileSync("psql", ["--version"], { encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

type Json = string | number | boolean | null | undefined | Json[] | { [k: string]: Json };

const isFlat = (v: Json): v is Record<string, Json> =>
  typeof v === "object" &&
  v !== null &&
  !Array.isArray(v) &&
  Object.values(v).every((x) => typeof x !== "object" || x === null);

/** A readable rendering of a workload's result object. */
export function humanSummary(result: object): string {
  const out: string[] = [];
  for (const [key, value] of Object.entries(result as Record<string, Json>)) {
    if (Array.isArray(value) && value.length > 0 && value.every(isFlat)) {
      const rows = value as Record<string, Json>[];
      const headers = [...new Set(rows.flatMap((r) => Object.keys(r)))];
      out.push(
        `${key}:`,
        formatTable(
          headers,
          rows.map((r) => headers.map((h) => cell(r[h]))),
        ),
      );
    } else if (isFlat(value)) {
      const parts = Object.entries(value).map(([k, v]) => `${k}=${String(v)}`);
      out.push(`${key}: ${parts.join(", ")}`);
    } else if (typeof value === "object" && value !== null) {
      out.push(`${key}: ${JSON.stringify(value)}`);
    } else {
      out.push(`${key}: ${String(value)}`);
    }
  }
  return out.join("\n");
}

function cell(v: Json): string | number | boolean | null | undefined {
  return typeof v === "object" && v !== null ? JSON.stringify(v) : v;
}

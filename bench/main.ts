/**
 * `npm run bench -- <workload> [--json] [options]`: runs one workload against real Mulligan
 * processes and prints a human summary, or with --json exactly one JSON object on stdout
 * (progress goes to stderr). Each workload module exports `run(args): Promise<object>` (the
 * JSON object) and may export `summary(result): string` for its human form; without one the
 * generic rendering of bench/lib/report.ts is used. Unknown workload or option: usage, exit 2.
 */
import { UsageError } from "./lib/args.js";
import { humanSummary } from "./lib/report.js";

interface Workload {
  run(args: string[]): Promise<object>;
  summary?(result: object): string;
}

const WORKLOADS: Record<string, { load: () => Promise<Workload>; help: string }> = {
  candidates: {
    load: () => import("./candidates.js") as Promise<Workload>,
    help:
      "FindCandidates p50/p99/qps, flat | nested | unsatisfiable × limit × concurrency\n" +
      "              [--trees 10000] [--store sqlite|postgres] [--duration-ms 4000]\n" +
      "              [--queries flat,nested,unsatisfiable] [--limits 1,1000,0] [--concurrency 1,10]",
  },
  claims: {
    load: () => import("./claims.js") as Promise<Workload>,
    help:
      "ClaimBest by 1..8 schedulers until ~95% full, then an over-commit audit\n" +
      "              [--store both|sqlite|postgres] [--hosts 250] [--schedulers 1,2,4,8]\n" +
      "              [--weighers pack,spread,random_top_k] [--fill 95] [--limit 0] [--top-k 10]\n" +
      "              [--quota off|on] (on: the project has limits, never reached, checked per claim)",
  },
  floor: {
    load: () => import("./floor.js") as Promise<Workload>,
    help:
      "what a call costs: Health/Check, FindCandidates (limit 1) and ClaimBest on an empty\n" +
      "              fleet; calls/s, p50/p99 and server and client CPU ms per call\n" +
      "              [--store sqlite|postgres] [--hosts 100] [--concurrency 8] [--duration-ms 3000]\n" +
      "              [--calls health,find,claim]",
  },
  coldstart: {
    load: () => import("./coldstart.js") as Promise<Workload>,
    help:
      "start on 70,000 providers and ~558,000 allocations: ready_s, rss_mb\n" +
      "              [--trees 10000] [--store sqlite|postgres] [--entry dist|source]",
  },
  provision: {
    load: () => import("./provision.js") as Promise<Workload>,
    help:
      "VMs over the public API with a real executor and QEMU (TCG): Mulligan's overhead\n" +
      "              (API call → ACTIVE minus guest boot) p50/p99, target p99 < 200 ms\n" +
      "              [--vms 20] [--concurrency 2] [--warmup 2] [--store sqlite|postgres]",
  },
  placement: {
    load: () => import("./placement.js") as Promise<Workload>,
    help:
      "the same fleets, queries and claim loop against OpenStack Placement and Mulligan\n" +
      "              (options: see bench/placement.ts)",
  },
};

function usage(): string {
  const lines = Object.entries(WORKLOADS).map(([name, w]) => `  ${name.padEnd(11)} ${w.help}`);
  return [
    "usage: npm run bench -- <workload> [--json] [options]",
    "workloads:",
    ...lines,
    "tools:",
    "  profile FILE [N]  top functions by self time in a .cpuprofile (servers write one per run",
    "                    when MULLIGAN_BENCH_PROFILE=DIR is set)",
  ].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === "--help" || name === "help") {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  if (name === "profile") {
    const [file, n] = rest;
    if (!file) {
      process.stderr.write(`${usage()}\n`);
      return 2;
    }
    const { profileSummary } = await import("./lib/profile.js");
    process.stdout.write(`${profileSummary(file, n ? Number(n) : undefined)}\n`);
    return 0;
  }
  const workload = name === undefined ? undefined : WORKLOADS[name];
  if (!workload) {
    process.stderr.write(`${name ? `unknown workload "${name}"\n` : ""}${usage()}\n`);
    return 2;
  }
  const json = rest.includes("--json");
  const args = rest.filter((a) => a !== "--json");
  const mod = await workload.load();
  let result: object;
  try {
    result = await mod.run(args);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n${usage()}\n`);
      return 2;
    }
    throw err;
  }
  const text = json
    ? JSON.stringify(result, null, 2)
    : (mod.summary?.(result) ?? humanSummary(result));
  process.stdout.write(`${text}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);

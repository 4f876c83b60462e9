/**
 * `floor`: what one call costs on this machine, from the cheapest call to a claim, so that the
 * claims bench's figure can be read against what the gRPC stack alone allows. On an empty fleet
 * of `--hosts` trees, `--concurrency` callers (each on its own HTTP/2 connection, as the
 * claims bench's schedulers) call, in turn, for `--duration-ms` each:
 *
 *  - `health`: Health/Check, no token, no database: the transport and the server's
 *    interceptors alone;
 *  - `find`: FindCandidates with ClaimBest's query at limit 1 (the index, no SQL);
 *  - `claim`: ClaimBest with random_top_k, the claims bench's call (a durable write).
 *
 * Besides calls/s and latency, each case reports the CPU time per call of the server process
 * (/proc/PID/stat, every thread) and of this process (the callers), so the sum shows how close
 * a case is to what two cores allow: 2,000 ms of CPU per second over the calls made.
 */
import { readFileSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import { Health } from "../src/gen/health/v1/health_pb.js";
import {
  ResourceQuerySchema,
  ResourceService,
  Weigher,
} from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { vmsPerTree } from "./fleet.js";
import { intOption, listOption, parseOptions, storeOption } from "./lib/args.js";
import { progress } from "./lib/log.js";
import { flatQuery, newVmClaim } from "./lib/queries.js";
import { machineInfo } from "./lib/report.js";
import { seedFleet, startSeeded } from "./lib/seed.js";
import type { MulliganServer } from "./lib/server.js";
import { round, runConcurrent } from "./lib/stats.js";

const CALLS = ["health", "find", "claim"] as const;
type CallName = (typeof CALLS)[number];

/** Clock ticks per second of /proc/PID/stat's CPU times (Linux's USER_HZ). */
const TICKS_PER_S = 100;

export async function run(args: string[]): Promise<object> {
  const o = parseOptions(args, ["store", "hosts", "concurrency", "duration-ms", "calls"]);
  const store = storeOption(o.store);
  const hosts = intOption(o.hosts, "hosts", 100);
  const concurrency = intOption(o.concurrency, "concurrency", 8);
  const durationMs = intOption(o["duration-ms"], "duration-ms", 3000);
  const only = listOption(o.calls, "calls", CALLS, CALLS);

  progress(`floor: seeding an empty fleet of ${hosts} trees on ${store}`);
  const seeded = await seedFleet(store, { trees: hosts, fill: 0 });
  const cases: object[] = [];
  try {
    const server = await startSeeded(seeded);
    try {
      // Each caller (worker) on its own connection.
      const health = Array.from({ length: concurrency }, (_, i) =>
        server.client(Health, { connection: i }),
      );
      const resource = Array.from({ length: concurrency }, (_, i) =>
        server.client(ResourceService, { connection: i }),
      );
      const query = create(ResourceQuerySchema, flatQuery(1, []));
      const calls: Record<CallName, (worker: number) => Promise<unknown>> = {
        health: (w) => health[w]?.check({}) as Promise<unknown>,
        find: (w) => resource[w]?.findCandidates({ query }) as Promise<unknown>,
        claim: (w) =>
          resource[w]?.claimBest(newVmClaim(query, Weigher.RANDOM_TOP_K, 10)) as Promise<unknown>,
      };
      // A claim run must not fill the fleet: at most half of what it holds.
      const claimCap = Math.floor((hosts * vmsPerTree()) / 2);
      for (const name of only) {
        const call = calls[name] as (worker: number) => Promise<unknown>;
        const result = await measured(server, concurrency, durationMs, name, call, claimCap);
        progress(`  ${JSON.stringify(result)}`);
        cases.push(result);
      }
    } finally {
      await server.stop();
    }
  } finally {
    await seeded.drop();
  }
  return {
    workload: "floor",
    store,
    fleet: { hosts, providers: hosts * 7 },
    concurrency,
    cases,
    machine: machineInfo(),
  };
}

async function measured(
  server: MulliganServer,
  concurrency: number,
  durationMs: number,
  name: CallName,
  call: (worker: number) => Promise<unknown>,
  claimCap: number,
) {
  // Warm up (JIT, connections) before the CPU counters are read.
  await runConcurrent(concurrency, { count: concurrency * 50 }, ({ worker }) => call(worker));
  const serverBefore = serverCpuMs(server.pid);
  const clientBefore = process.cpuUsage();
  const r = await runConcurrent(
    concurrency,
    name === "claim" ? { durationMs, count: claimCap } : { durationMs },
    ({ worker }) => call(worker),
  );
  const serverMs = serverCpuMs(server.pid) - serverBefore;
  const client = process.cpuUsage(clientBefore);
  const clientMs = (client.user + client.system) / 1000;
  return {
    call: name,
    calls: r.n,
    calls_per_s: r.qps,
    p50_ms: r.p50_ms,
    p99_ms: r.p99_ms,
    server_cpu_ms_per_call: round(serverMs / r.n, 3),
    client_cpu_ms_per_call: round(clientMs / r.n, 3),
  };
}

/** User + system CPU time of a process so far (all its threads), in ms. */
function serverCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces, inside parentheses).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / TICKS_PER_S;
}

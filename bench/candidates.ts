/**
 * `candidates`: FindCandidates over gRPC on a seeded fleet (default 10,000 trees × 7 providers,
 * 30% pre-consumed): the flat, nested (same_subtree) and unsatisfiable queries of
 * bench/lib/queries.ts, each at limit 1, 1,000 and unlimited, with 1 and 10 concurrent callers
 * (caller i on HTTP/2 connection i). Per case: one warm-up call, then calls back to back for
 * --duration-ms (every caller makes at least one): p50_ms, p99_ms, qps and the candidates
 * returned. Unlimited queries answer with every candidate of the fleet (tens of thousands), so
 * their time includes encoding and decoding a response of tens of megabytes.
 */
import { create } from "@bufbuild/protobuf";
import {
  FindCandidatesRequestSchema,
  ResourceService,
} from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { PROVIDERS_PER_TREE } from "./fleet.js";
import { intListOption, intOption, listOption, parseOptions, storeOption } from "./lib/args.js";
import { progress } from "./lib/log.js";
import { namedQuery, QUERY_NAMES, type QueryName } from "./lib/queries.js";
import { machineInfo } from "./lib/report.js";
import { seedFleet, startSeeded } from "./lib/seed.js";
import { runConcurrent } from "./lib/stats.js";

export interface CandidatesCase {
  query: QueryName;
  limit: number;
  concurrency: number;
  p50_ms: number;
  p99_ms: number;
  qps: number;
  candidates: number;
  calls: number;
}

export async function run(args: string[]): Promise<object> {
  const o = parseOptions(args, [
    "trees",
    "store",
    "duration-ms",
    "queries",
    "limits",
    "concurrency",
  ]);
  const trees = intOption(o.trees, "trees", 10_000);
  const store = storeOption(o.store);
  const durationMs = intOption(o["duration-ms"], "duration-ms", 4000);
  const queries = listOption(o.queries, "queries", QUERY_NAMES, QUERY_NAMES);
  const limits = listOption(o.limits, "limits", ["1", "1000", "0"]).map((s) =>
    intOption(s, "limits", 0),
  );
  const concurrencies = intListOption(o.concurrency, "concurrency", [1, 10]);

  progress(
    `candidates: seeding ${trees} trees (${trees * PROVIDERS_PER_TREE} providers) on ${store}`,
  );
  const seeded = await seedFleet(store, { trees, fill: 0.3 });
  progress(`seeded in ${seeded.seedSeconds.toFixed(1)} s: ${JSON.stringify(seeded.counts)}`);
  const server = await startSeeded(seeded);
  const cases: CandidatesCase[] = [];
  try {
    for (const query of queries)
      for (const limit of limits)
        for (const concurrency of concurrencies) {
          const request = create(FindCandidatesRequestSchema, { query: namedQuery(query, limit) });
          const clients = Array.from({ length: concurrency }, (_, i) =>
            server.client(ResourceService, { connection: i }),
          );
          // One warm-up call, which also gives the answer checked below.
          const first = await server.client(ResourceService).findCandidates(request);
          const candidates = first.candidates.length;
          const r = await runConcurrent(concurrency, { durationMs }, async ({ worker }) => {
            const res = await clients[worker]?.findCandidates(request);
            if (res?.candidates.length !== candidates)
              throw new Error(`${query} limit ${limit}: answers differ on an unchanged fleet`);
          });
          if (limit > 0 && candidates > limit)
            throw new Error(`${query} limit ${limit} returned ${candidates} candidates`);
          if (query === "unsatisfiable" && candidates !== 0)
            throw new Error(`the unsatisfiable query returned ${candidates} candidates`);
          const c = {
            query,
            limit,
            concurrency,
            p50_ms: r.p50_ms,
            p99_ms: r.p99_ms,
            qps: r.qps,
            candidates,
            calls: r.n,
          };
          progress(`  ${JSON.stringify(c)}`);
          cases.push(c);
        }
    return {
      workload: "candidates",
      store,
      fleet: {
        trees,
        providers: seeded.counts.providers,
        consumers: seeded.counts.consumers,
        allocations: seeded.counts.allocations,
        capabilities: 20,
        groups: 50,
        pre_consumed: 0.3,
      },
      server_rss_mb: server.rssMb(),
      duration_ms_per_case: durationMs,
      cases,
      machine: machineInfo(),
    };
  } finally {
    await server.stop();
    await seeded.drop();
  }
}

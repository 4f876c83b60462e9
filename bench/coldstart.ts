/**
 * `coldstart`: a store holding 70,000 providers (10,000 trees of bench/fleet.ts) and ~558,000
 * allocations (30% pre-consumed), seeded by SQL; then a server is spawned on it and
 * FindCandidates (the flat query, limit 1) is called until it answers. ready_s runs from the
 * spawn to that first answer; rss_mb is the server's resident set right after it.
 */
import { create } from "@bufbuild/protobuf";
import {
  FindCandidatesRequestSchema,
  ResourceService,
} from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { intOption, parseOptions, storeOption } from "./lib/args.js";
import { grpcFailure } from "./lib/grpc-errors.js";
import { progress } from "./lib/log.js";
import { flatQuery } from "./lib/queries.js";
import { machineInfo } from "./lib/report.js";
import { seedFleet, startSeeded } from "./lib/seed.js";
import type { MulliganServer } from "./lib/server.js";
import { round } from "./lib/stats.js";

export async function run(args: string[]): Promise<object> {
  const o = parseOptions(args, ["trees", "store"]);
  const trees = intOption(o.trees, "trees", 10_000);
  const store = storeOption(o.store);
  progress(`coldstart: seeding ${trees} trees on ${store}`);
  const seeded = await seedFleet(store, { trees, fill: 0.3 });
  progress(`seeded in ${seeded.seedSeconds.toFixed(1)} s: ${JSON.stringify(seeded.counts)}`);
  try {
    const server = await startSeeded(seeded);
    try {
      const { readyAt, candidates, failures } = await firstAnswer(server);
      const rss = server.rssMb();
      return {
        workload: "coldstart",
        store,
        fleet: {
          trees,
          providers: seeded.counts.providers,
          consumers: seeded.counts.consumers,
          allocations: seeded.counts.allocations,
        },
        listening_s: round((server.servingAt - server.spawnedAt) / 1000, 3),
        ready_s: round((readyAt - server.spawnedAt) / 1000, 3),
        rss_mb: rss,
        first_answer_candidates: candidates,
        failed_polls: failures,
        machine: machineInfo(),
      };
    } finally {
      await server.stop();
    }
  } finally {
    await seeded.drop();
  }
}

/** Polls FindCandidates every 20 ms until it answers; the time of that answer. */
async function firstAnswer(server: MulliganServer) {
  const resource = server.client(ResourceService);
  const request = create(FindCandidatesRequestSchema, { query: flatQuery(1) });
  let failures = 0;
  for (;;) {
    try {
      const res = await resource.findCandidates(request);
      return { readyAt: performance.now(), candidates: res.candidates.length, failures };
    } catch (err) {
      failures++;
      if (failures % 50 === 0)
        progress(`still not answering: ${JSON.stringify(grpcFailure(err).message)}`);
      if (failures > 30_000) throw err;
      await new Promise((ok) => setTimeout(ok, 20));
    }
  }
}

/**
 * `coldstart`: a store holding 70,000 providers (10,000 trees of bench/fleet.ts) and ~558,000
 * allocations (30% pre-consumed), seeded by SQL; then a server is spawned on it and
 * FindCandidates (the flat query, limit 1) is called until it answers. ready_s runs from the
 * spawn to that first answer; rss_mb is the server's resident set right after it. The server
 * starts from the compiled build (`npm run build`, made first), as operators run it;
 * `--entry source` measures a start through tsx instead.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import {
  FindCandidatesRequestSchema,
  ResourceService,
} from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { intOption, parseOptions, storeOption, UsageError } from "./lib/args.js";
import { grpcFailure } from "./lib/grpc-errors.js";
import { progress } from "./lib/log.js";
import { flatQuery } from "./lib/queries.js";
import { machineInfo } from "./lib/report.js";
import { seedFleet, startSeeded } from "./lib/seed.js";
import { type MulliganServer, REPO_ROOT } from "./lib/server.js";
import { round } from "./lib/stats.js";

export async function run(args: string[]): Promise<object> {
  const o = parseOptions(args, ["trees", "store", "entry"]);
  const trees = intOption(o.trees, "trees", 10_000);
  const store = storeOption(o.store);
  const entry = o.entry ?? "dist";
  if (entry !== "dist" && entry !== "source") throw new UsageError("--entry is dist or source");
  if (entry === "dist") build();
  progress(`coldstart: seeding ${trees} trees on ${store}`);
  const seeded = await seedFleet(store, { trees, fill: 0.3 });
  progress(`seeded in ${seeded.seedSeconds.toFixed(1)} s: ${JSON.stringify(seeded.counts)}`);
  try {
    const env: Record<string, string> = entry === "source" ? { MULLIGAN_FROM_SOURCE: "1" } : {};
    const server = await startSeeded(seeded, { env });
    try {
      const { readyAt, candidates, failures } = await firstAnswer(server);
      const rss = server.rssMb();
      return {
        workload: "coldstart",
        store,
        entry,
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

/** `npm run build`: the server then starts from dist/ (bin/mulligan.mjs checks it is current). */
function build() {
  progress("building dist/ (npm run build)");
  const result = spawnSync(process.execPath, [join(REPO_ROOT, "scripts/build.mjs")], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  if (result.status !== 0) throw new Error(`npm run build failed (exit ${result.status})`);
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

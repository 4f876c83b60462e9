/**
 * `claims`: 1, 2, 4 and 8 concurrent schedulers (each on its own HTTP/2 connection) call
 * ClaimBest for one VM (bench/lib/queries.ts flatQuery without capabilities) on an empty fleet
 * of `--hosts` trees until ~95% of what the fleet can hold is claimed (or ClaimBest answers
 * NO_CANDIDATES because nothing fits; `fill` is then the fullest class's usage / capacity), with the pack, spread and random_top_k weighers, on
 * SQLite and PostgreSQL. Every run starts from a copy of one seeded store. After a run the
 * server stops and bench/lib/audit.ts recomputes usage from the allocation rows: `overcommit`
 * counts (provider, class) pairs over capacity (must be 0), and `stored` the consumers in the
 * database (must equal `claims`: every acknowledged claim is durable).
 *
 * retries_per_claim = (Σ attempts − 1 over successful claims + attempts of claims that gave up)
 * / claims; ClaimBestResponse.attempts is the number of claims tried by the server.
 *
 * `--quota on` gives the schedulers' project a limit on each class the VM asks, above what the
 * fleet holds: no claim is refused, but every one is checked against its project's usage, as
 * in a cloud where every project has quotas.
 */
import { create } from "@bufbuild/protobuf";
import {
  ResourceQuerySchema,
  ResourceService,
  Weigher,
} from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { VM, vmsPerTree } from "./fleet.js";
import {
  intListOption,
  intOption,
  listOption,
  parseOptions,
  storesOption,
  UsageError,
} from "./lib/args.js";
import { auditStore } from "./lib/audit.js";
import { grpcFailure, isNoCandidates } from "./lib/grpc-errors.js";
import { progress } from "./lib/log.js";
import { flatQuery, newVmClaim } from "./lib/queries.js";
import { machineInfo } from "./lib/report.js";
import { cloneStore, type SeededStore, seedFleet, startSeeded } from "./lib/seed.js";
import type { MulliganServer } from "./lib/server.js";
import { round, runConcurrent } from "./lib/stats.js";

const WEIGHERS = {
  pack: Weigher.PACK,
  spread: Weigher.SPREAD,
  random_top_k: Weigher.RANDOM_TOP_K,
} as const;
type WeigherName = keyof typeof WEIGHERS;
const WEIGHER_NAMES = Object.keys(WEIGHERS) as WeigherName[];

interface LoopOptions {
  weigher: WeigherName;
  schedulers: number;
  target: number;
  limit: number;
  topK: number;
  /** Give the project a limit on each class the VM asks, above what the fleet holds. */
  quota: boolean;
}

export async function run(args: string[]): Promise<object> {
  const o = parseOptions(args, [
    "store",
    "hosts",
    "weighers",
    "schedulers",
    "fill",
    "limit",
    "top-k",
    "quota",
  ]);
  const stores = storesOption(o.store, "both");
  const hosts = intOption(o.hosts, "hosts", 250);
  const weighers = listOption(o.weighers, "weighers", WEIGHER_NAMES, WEIGHER_NAMES);
  const schedulers = intListOption(o.schedulers, "schedulers", [1, 2, 4, 8]);
  const fillPct = intOption(o.fill, "fill", 95);
  const limit = intOption(o.limit, "limit", 0);
  const topK = intOption(o["top-k"], "top-k", 10);
  const quota = (o.quota ?? "off") === "on";
  if (!["on", "off"].includes(o.quota ?? "off")) throw new UsageError("--quota must be on or off");
  const capacity = hosts * vmsPerTree();
  const target = Math.floor((capacity * fillPct) / 100);

  const runs: object[] = [];
  for (const store of stores) {
    progress(`claims: seeding an empty fleet of ${hosts} trees on ${store}`);
    const template = await seedFleet(store, { trees: hosts, fill: 0 });
    try {
      for (const weigher of weighers)
        for (const n of schedulers) {
          const result = await oneRun(template, {
            weigher,
            schedulers: n,
            target,
            limit,
            topK,
            quota,
          });
          progress(`  ${JSON.stringify(result)}`);
          runs.push(result);
        }
    } finally {
      await template.drop();
    }
  }
  return {
    workload: "claims",
    fleet: { hosts, providers: hosts * 7, vm_capacity: capacity, target_claims: target },
    query: { vm: "VCPU 2, MEMORY_MB 4096, DISK_GB 40", limit, top_k: topK },
    quota: quota ? "a limit on every class the VM asks, never reached" : "none",
    runs,
    machine: machineInfo(),
  };
}

/** One (store, weigher, schedulers) run on a fresh copy of the seeded store. */
async function oneRun(template: SeededStore, options: LoopOptions) {
  const store = await cloneStore(template);
  try {
    const server = await startSeeded(store);
    let loop: Awaited<ReturnType<typeof claimLoop>>;
    try {
      if (options.quota) await setQuotas(server, options.target);
      loop = await claimLoop(server, options);
    } finally {
      await server.stop();
    }
    const audit = await auditStore(store.databaseUrl);
    return {
      store: store.kind,
      weigher: options.weigher,
      schedulers: options.schedulers,
      claims: loop.claims,
      claims_per_s: loop.claims_per_s,
      p50_ms: loop.p50_ms,
      p99_ms: loop.p99_ms,
      retries_per_claim: loop.retries_per_claim,
      gave_up: loop.gaveUp,
      full: loop.full,
      fill: Math.max(0, ...Object.values(audit.fill)),
      stored: audit.consumers,
      overcommit: audit.overcommit,
    };
  } finally {
    await store.drop();
  }
}

/** Limits on the admin project's VCPU, MEMORY_MB and DISK_GB that `claims` VMs stay under. */
async function setQuotas(server: MulliganServer, claims: number): Promise<void> {
  const resource = server.client(ResourceService);
  for (const [resourceClass, perVm] of Object.entries(VM))
    await resource.setQuota({
      project: server.admin.projectUuid,
      resourceClass,
      // Twice the run's VMs: the fleet is full long before.
      limit: BigInt(2 * claims * perVm),
    });
}

/** Schedulers call ClaimBest until `target` calls were made or nothing fits any more. */
async function claimLoop(server: MulliganServer, o: LoopOptions) {
  const clients = Array.from({ length: o.schedulers }, (_, i) =>
    server.client(ResourceService, { connection: i }),
  );
  const query = create(ResourceQuerySchema, flatQuery(o.limit, []));
  let claims = 0;
  let retries = 0;
  let gaveUp = 0;
  let full = false;
  const r = await runConcurrent(o.schedulers, { count: o.target }, async ({ worker, stop }) => {
    const request = newVmClaim(query, WEIGHERS[o.weigher], o.topK);
    try {
      const res = await clients[worker]?.claimBest(request);
      claims++;
      retries += (res?.attempts ?? 1) - 1;
    } catch (err) {
      const f = grpcFailure(err);
      if (!isNoCandidates(f)) throw err;
      if (f.metadata.attempts !== undefined) {
        // Every candidate was taken by the other schedulers: a retry-exhausted claim.
        gaveUp++;
        retries += Number(f.metadata.attempts);
        return;
      }
      full = true;
      stop();
    }
  });
  return {
    claims,
    claims_per_s: r.elapsed_s > 0 ? round(claims / r.elapsed_s, 1) : 0,
    p50_ms: r.p50_ms,
    p99_ms: r.p99_ms,
    retries_per_claim: claims > 0 ? round(retries / claims, 4) : 0,
    gaveUp,
    full,
  };
}

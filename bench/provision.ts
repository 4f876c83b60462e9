/**
 * `provision`: VMs provisioned end to end over the public gRPC API — a spawned `mulligan serve`,
 * a spawned `mulligan executor` on this machine running real QEMU guests (TCG) of the tiny test
 * image — `--vms` of them (default 20), `--concurrency` at a time (default 2), each
 * decommissioned once ACTIVE so that at most `concurrency` guests run.
 *
 * Mulligan's own overhead per VM = (Provision called → ACTIVE seen on the WatchMachine stream)
 * minus the guest's boot, where the boot runs from the executor's first "start" event (QEMU
 * about to be spawned: the virtual machine's power-on) to its "booted" event (the boot marker
 * seen on the serial console, polled every 25 ms). The phases of the rest come
 * from the machine's event times (server clock, same host): accept (call → PENDING), schedule
 * (→ PROVISIONING), dispatch (→ first executor report), prepare (→ QEMU spawned: image check,
 * disk and config drive), report (booted → ACTIVE), notify (ACTIVE → seen by client).
 * Target: overhead p99 < 200 ms.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  ImageService,
  type MachineEvent,
  MachineService,
  MachineState,
} from "../src/gen/mulligan/control/v1/control_pb.js";
import { AccountKind, IdentityService, Role } from "../src/gen/mulligan/iam/v1/iam_pb.js";
import { MetadataService } from "../src/gen/mulligan/meta/v1/meta_pb.js";
import { ResourceService } from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { testImage, testImageRequest } from "../test/test-image.js";
import { intOption, parseOptions, storeOption } from "./lib/args.js";
import { spawnExecutor } from "./lib/executor.js";
import { progress } from "./lib/log.js";
import { machineInfo } from "./lib/report.js";
import { type MulliganServer, startMulligan } from "./lib/server.js";
import { formatTable, percentile, round } from "./lib/stats.js";

const TARGET_P99_MS = 200;
const PHASES = ["accept", "schedule", "dispatch", "prepare", "report", "notify"] as const;
type Phase = (typeof PHASES)[number];

/** One VM's timings, in ms. */
interface Sample {
  total: number;
  boot: number;
  overhead: number;
  phases: Record<Phase, number>;
}

export async function run(args: string[]): Promise<object> {
  const o = parseOptions(args, ["vms", "concurrency", "store", "warmup"]);
  const vms = intOption(o.vms, "vms", 20);
  const concurrency = Math.max(1, intOption(o.concurrency, "concurrency", 2));
  const warmup = intOption(o.warmup, "warmup", concurrency);
  const store = storeOption(o.store);
  const image = testImage();
  progress(`provision: ${vms} VMs, concurrency ${concurrency}, ${store}`);
  const server = await startMulligan({ database: store });
  const stateDir = mkdtempSync(join(tmpdir(), "mulligan-bench-exec-"));
  let executor: Awaited<ReturnType<typeof spawnExecutor>> | undefined;
  try {
    await server.client(MetadataService).createRegion({ name: "bench" });
    const iam = server.client(IdentityService);
    const { secret } = await iam.createAccount({ name: "bench-exec", kind: AccountKind.EXECUTOR });
    await iam.grantRole({ account: "bench-exec", project: "", role: Role.EXECUTOR });
    const secretFile = join(stateDir, "secret");
    writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
    executor = await spawnExecutor({
      server: server.url,
      account: "bench-exec",
      secretFile,
      hostName: "bench-host",
      region: "bench",
      stateDir,
      // Teardowns run beside builds: a build never queues behind a decommission.
      maxBuilds: concurrency * 2,
      ready: async () => {
        await server.client(ResourceService).getProvider({ provider: "bench-host" });
      },
    });
    await server.client(ImageService).registerImage(testImageRequest(image));
    // Warm-up at the measured concurrency: the first concurrent builds pay for cold code paths.
    await inWorkers(warmup, concurrency, async (n) => {
      await provisionOne(server, `warmup-${n}`);
    });
    progress(`warm-up done (${warmup}); measuring`);
    const samples: Sample[] = [];
    await inWorkers(vms, concurrency, async (n) => {
      const s = await provisionOne(server, `vm-${n}`);
      samples.push(s);
      const phases = PHASES.map((p) => `${p} ${Math.round(s.phases[p])}`).join(", ");
      progress(
        `vm-${n}: ${Math.round(s.total)} ms, boot ${Math.round(s.boot)} ms, overhead ${Math.round(s.overhead)} ms (${phases})`,
      );
    });
    return {
      workload: "provision",
      store,
      vms,
      concurrency,
      ...summarize(samples),
      load_average: loadavg().map((x) => round(x, 1)),
      machine: machineInfo(),
    };
  } finally {
    await executor?.stop();
    await server.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/** Runs fn(0 … count-1) with at most `concurrency` calls at once. */
async function inWorkers(count: number, concurrency: number, fn: (n: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await fn(next++);
    }),
  );
}

const ms = (e: MachineEvent | undefined) =>
  e?.time ? timestampDate(e.time).getTime() : Number.NaN;

/** Provisions one VM, times it from its events, and decommissions it. */
async function provisionOne(server: MulliganServer, name: string): Promise<Sample> {
  const machines = server.client(MachineService);
  const t0 = Date.now();
  const m = (
    await machines.provision({
      spec: {
        name,
        image: "tiny",
        groups: [{ resources: { VCPU: 1n, MEMORY_MB: 128n, DISK_GB: 1n } }],
      },
    })
  ).machine;
  if (!m) throw new Error("Provision returned no machine");
  const events: MachineEvent[] = [];
  let seen = 0;
  for await (const r of machines.watchMachine({ machine: m.uuid })) {
    if (r.event) events.push(r.event);
    const state = r.event?.state;
    if (state === MachineState.ERROR) {
      const attempts = (r.machine?.attempts ?? [])
        .map((a) => `#${a.number} ${a.hostName} ${a.failedStep} ${a.reason} ${a.message}`)
        .join("; ");
      throw new Error(
        `${name} went ERROR: ${r.machine?.reason} ${r.machine?.message} (attempts: ${attempts})`,
      );
    }
    if (state === MachineState.ACTIVE) {
      seen = Date.now();
      break;
    }
  }
  await machines.decommission({ machine: m.uuid });
  for await (const r of machines.watchMachine({ machine: m.uuid }))
    if (r.event?.state === MachineState.DELETED) break;

  const pending = events.find((e) => e.state === MachineState.PENDING);
  const provisioning = events.find((e) => e.state === MachineState.PROVISIONING);
  const firstReport = events.find(
    (e) => e.state === MachineState.PROVISIONING && e.step !== "schedule",
  );
  const started = events.find((e) => e.step === "start");
  const booted = events.find((e) => e.step === "boot" && e.message === "booted");
  const active = events.find((e) => e.state === MachineState.ACTIVE);
  const boot = ms(booted) - ms(started);
  const total = seen - t0;
  if (!(boot >= 0)) throw new Error(`${name}: no start/booted events to time the boot`);
  return {
    total,
    boot,
    overhead: total - boot,
    phases: {
      accept: ms(pending) - t0,
      schedule: ms(provisioning) - ms(pending),
      dispatch: ms(firstReport) - ms(provisioning),
      prepare: ms(started) - ms(firstReport),
      report: ms(active) - ms(booted),
      notify: seen - ms(active),
    },
  };
}

function stats(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    p50_ms: round(percentile(sorted, 50), 1),
    p99_ms: round(percentile(sorted, 99), 1),
    max_ms: round(sorted.at(-1) ?? 0, 1),
  };
}

function summarize(samples: Sample[]) {
  const overhead = stats(samples.map((s) => s.overhead));
  return {
    overhead,
    total: stats(samples.map((s) => s.total)),
    guest_boot: stats(samples.map((s) => s.boot)),
    phases: Object.fromEntries(PHASES.map((p) => [p, stats(samples.map((s) => s.phases[p]))])),
    target_p99_ms: TARGET_P99_MS,
    met: overhead.p99_ms < TARGET_P99_MS,
  };
}

/** The human form: overhead against the target, then where it goes. */
export function summary(result: object): string {
  const r = result as ReturnType<typeof summarize> & {
    load_average: number[];
    vms: number;
    concurrency: number;
    store: string;
  };
  const row = (name: string, s: { p50_ms: number; p99_ms: number; max_ms: number }) => [
    name,
    String(s.p50_ms),
    String(s.p99_ms),
    String(s.max_ms),
  ];
  return [
    `provision: ${r.vms} VMs, concurrency ${r.concurrency}, ${r.store}, real QEMU (TCG), load average ${r.load_average.join(" ")}`,
    `Mulligan's overhead p50 ${r.overhead.p50_ms} ms, p99 ${r.overhead.p99_ms} ms — target p99 < ${r.target_p99_ms} ms: ${r.met ? "met" : "MISSED"}`,
    formatTable(
      ["", "p50 ms", "p99 ms", "max ms"],
      [
        row("API call → ACTIVE", r.total),
        row("guest boot", r.guest_boot),
        row("overhead", r.overhead),
        ...PHASES.flatMap((p) => {
          const s = r.phases[p];
          return s ? [row(`  ${p}`, s)] : [];
        }),
      ],
    ),
  ].join("\n");
}

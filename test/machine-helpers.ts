/**
 * Helpers of the machine end-to-end suites: real `mulligan serve` and `mulligan executor`
 * child processes (so a test can SIGKILL them), the QEMU processes of a guest as `ps` sees
 * them, waiting for a machine's state, and the claim audit (what the resource part holds
 * against what the machines say they hold), and the in-process fixtures those suites share: a
 * host provider with inventory and a kernel image that no executor ever boots.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import type { DescService } from "@bufbuild/protobuf";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  ImageService,
  type MachineService,
  MachineState,
} from "../src/gen/mulligan/control/v1/control_pb.js";
import { IdentityService } from "../src/gen/mulligan/iam/v1/iam_pb.js";
import { ResourceService } from "../src/gen/mulligan/resource/v1/resource_pb.js";
import type { TestServer } from "./harness.js";

const ROOT = resolve(import.meta.dirname, "..");
const MULLIGAN = join(ROOT, "bin", "mulligan.mjs");
/** Child output is echoed when MULLIGAN_TEST_LOG is set (debugging a crash test). */
const ECHO = process.env.MULLIGAN_TEST_LOG !== undefined;

/** A host provider in region "lab" with `vcpu` VCPU, 4096 MEMORY_MB and 100 DISK_GB; its UUID. */
export async function addHost(s: TestServer, name: string, vcpu = 4): Promise<string> {
  const r = s.client(ResourceService);
  const p = (await r.createProvider({ name, region: "lab" })).provider;
  assert.ok(p, `provider ${name} created`);
  await r.setInventories({
    provider: p.uuid,
    generation: p.generation,
    inventories: [
      { resourceClass: "VCPU", total: BigInt(vcpu) },
      { resourceClass: "MEMORY_MB", total: 4096n },
      { resourceClass: "DISK_GB", total: 100n },
    ],
  });
  return p.uuid;
}

/**
 * Registers a kernel + initrd image whose files never exist (for suites where the test plays the
 * executor, so nothing boots it).
 */
export async function registerKernelImage(
  s: TestServer,
  name: string,
  options: { bootMarker?: string; cmdline?: string } = {},
): Promise<void> {
  const sha = "a".repeat(64);
  await s.client(ImageService).registerImage({
    name,
    source: {
      case: "kernel",
      value: {
        kernel: "/k",
        kernelSha256: sha,
        initrd: "/i",
        initrdSha256: sha,
        cmdline: options.cmdline ?? "",
      },
    },
    ...(options.bootMarker === undefined ? {} : { bootMarker: options.bootMarker }),
  });
}

/** PIDs of live QEMU processes whose command line names this guest. */
export function qemuProcesses(uuid: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      const state = /^State:\s+(\w)/m.exec(readFileSync(`/proc/${entry}/status`, "utf8"))?.[1];
      if (cmd.includes("qemu-system") && cmd.includes(uuid) && state !== "Z")
        pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Polls `check` every 200 ms until it returns a value, or fails with `what` after `ms`. */
export async function eventually<T>(
  what: () => string,
  ms: number,
  check: () => Promise<T | undefined> | T | undefined,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const found = await check();
    if (found !== undefined) return found;
    if (Date.now() > end) assert.fail(what());
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Waits until the machine is in one of `states` (fails with where it is after `ms`). */
export async function untilState(
  machines: Client<typeof MachineService>,
  machine: string,
  states: MachineState[],
  ms: number,
) {
  let last = "";
  return eventually(
    () => `machine is ${last}, not ${states.map((x) => MachineState[x]).join("|")}`,
    ms,
    async () => {
      const m = (await machines.getMachine({ machine }).catch(() => undefined))?.machine;
      if (m) last = `${MachineState[m.state]} (${m.reason} ${m.message})`;
      return m && states.includes(m.state) ? m : undefined;
    },
  );
}

/** A `mulligan …` child process. */
export function spawnMulligan(args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, [MULLIGAN, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", ECHO ? "inherit" : "ignore", ECHO ? "inherit" : "ignore"],
  });
  return child;
}

/** Sends `signal` and waits for the process to be gone. */
export async function killChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once("exit", r));
  child.kill(signal);
  await gone;
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** A `mulligan serve` child process on a fixed port and store, which a test may kill and start again. */
export class ServeProcess {
  private child: ChildProcess | undefined;
  token = "";

  constructor(
    readonly port: number,
    private readonly args: string[],
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts the process and waits until it accepts connections. */
  async start(): Promise<void> {
    const child = spawnMulligan([
      "serve",
      "--listen",
      `127.0.0.1:${this.port}`,
      "--log-level",
      ECHO ? "info" : "warn",
      ...this.args,
    ]);
    this.child = child;
    await eventually(
      () => `mulligan serve did not listen on ${this.port} (exit ${child.exitCode})`,
      120_000,
      async () => {
        if (child.exitCode !== null) assert.fail(`mulligan serve exited ${child.exitCode}`);
        return (await accepts(this.port)) || undefined;
      },
    );
  }

  /** Bootstraps the store over gRPC; the admin token serves every later call. */
  async bootstrap(): Promise<void> {
    this.token = (await this.client(IdentityService, "").bootstrap({})).token;
  }

  /** A client with the admin's token (or `token`), on a connection of its own. */
  client<T extends DescService>(service: T, token = this.token): Client<T> {
    const transport = createGrpcTransport({
      baseUrl: this.url,
      interceptors: token
        ? [
            (next) => (req) => {
              req.header.set("authorization", `Bearer ${token}`);
              return next(req);
            },
          ]
        : [],
    });
    return createClient(service, transport);
  }

  /** Ends the process with `signal` (SIGKILL: no drain, no cleanup — a crash). */
  async kill(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    if (this.child) await killChild(this.child, signal);
    this.child = undefined;
  }
}

/** States in which a machine holds a claim. */
const HOLDING = new Set([
  MachineState.PROVISIONING,
  MachineState.ACTIVE,
  MachineState.DECOMMISSIONING,
]);

/**
 * The claim audit: every consumer with allocations on `host` is a machine that holds (it is
 * PROVISIONING, ACTIVE or DECOMMISSIONING there), and every such machine has them.
 */
export async function auditClaims(
  resource: Client<typeof ResourceService>,
  machines: Client<typeof MachineService>,
  host: string,
): Promise<void> {
  const held = (await resource.listProviderAllocations({ provider: host, pageSize: 1000 }))
    .allocations;
  const all = (await machines.listMachines({ pageSize: 1000, showDeleted: true })).machines;
  const byUuid = new Map(all.map((m) => [m.uuid, m]));
  for (const a of held) {
    const m = byUuid.get(a.consumer?.uuid ?? "");
    assert.ok(m, `allocation of ${a.consumer?.uuid} on ${host} belongs to no machine (leaked)`);
    assert.ok(
      HOLDING.has(m.state),
      `machine ${m.name} is ${MachineState[m.state]} yet holds an allocation on ${host} (leaked)`,
    );
  }
  const holders = new Set(held.map((a) => a.consumer?.uuid));
  for (const m of all)
    if (HOLDING.has(m.state) && (m.hostName === host || m.hostUuid === host))
      assert.ok(
        holders.has(m.uuid),
        `machine ${m.name} is ${MachineState[m.state]} without a claim`,
      );
}

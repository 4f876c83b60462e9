/**
 * Options of `Executor.start`, with every default compiled in one place (as Temporal's SDK
 * does): callers state only what differs. The account's secret never comes from argv: it is
 * read from a file or from MULLIGAN_EXECUTOR_SECRET (see `readExecutorSecret`).
 */
import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import type { ConductorOptions } from "./conductor.js";
import type { VmDriver } from "./drivers/vm-driver.js";
import type { HostClass, InventoryPolicy } from "./host-inventory.js";

/** Builds that run at once unless `maxBuilds` says otherwise. */
export const DEFAULT_MAX_BUILDS = 2;
/** How long a guest may take to print its boot marker. */
export const DEFAULT_BOOT_TIMEOUT_MS = 120_000;
/** How long one LeaseTasks call waits on the server for a task. */
export const LEASE_WAIT_SECONDS = 10;
/** How often the host's inventory and capabilities are registered again. */
export const REGISTRATION_INTERVAL_MS = 60_000;
/** The console tail published per guest (the server keeps at most this much). */
export const CONSOLE_TAIL_BYTES = 64 * 1024;
/** The environment variable holding the account's secret when no file is given. */
export const SECRET_ENV = "MULLIGAN_EXECUTOR_SECRET";

/** Amounts kept for the host itself, per class (Placement's `reserved`). */
export const DEFAULT_RESERVED: Readonly<Record<HostClass, number>> = {
  VCPU: 0,
  MEMORY_MB: 512,
  DISK_GB: 1,
};
/** Overcommit per class: CPUs are shared, memory and disk are not. */
export const DEFAULT_ALLOCATION_RATIOS: Readonly<Record<HostClass, number>> = {
  VCPU: 4.0,
  MEMORY_MB: 1.0,
  DISK_GB: 1.0,
};

export interface ExecutorOptions {
  /** Any Mulligan server (`HOST:PORT` or URL); the catalog routes each service from there. */
  server: string;
  /** The EXECUTOR account the executor authenticates as. */
  account: string;
  /** That account's secret (see `readExecutorSecret`). */
  secret: string;
  /** Project the token is scoped to; default none (global executor role). */
  project?: string;
  /** Name of this host's root provider (the name tasks and machines show). */
  hostName: string;
  /** Region (name, slug or UUID) the host is registered in. */
  region: string;
  /** Where host.json and the image cache live. */
  stateDir: string;
  /** Runs the guests (QemuDriver in production, a fake in tests). */
  driver: VmDriver;
  logger: Logger;
  /** PEM CA certificate(s) trusted for an https:// server. */
  ca?: string | Buffer;
  /** Builds that run at once (default 2). */
  maxBuilds?: number;
  /** Per-class amounts kept for the host (defaults: DEFAULT_RESERVED). */
  reserved?: Partial<Record<HostClass, number>>;
  /** Per-class overcommit (defaults: DEFAULT_ALLOCATION_RATIOS). */
  allocationRatios?: Partial<Record<HostClass, number>>;
  /** Boot timeout of each guest (default 120 s). */
  bootTimeoutMs?: number;
  /** Also act as conductor for the bare-metal nodes of a conductor group. */
  conductor?: ConductorOptions;
}

/** The options with every default applied. */
export interface ResolvedExecutorOptions
  extends Required<
    Omit<ExecutorOptions, "ca" | "project" | "reserved" | "allocationRatios" | "conductor">
  > {
  ca: string | Buffer | undefined;
  conductor: ConductorOptions | undefined;
  project: string;
  inventoryPolicy: InventoryPolicy;
}

/** Applies the defaults; throws ExecutorConfigError on a value that cannot work. */
export function resolveExecutorOptions(options: ExecutorOptions): ResolvedExecutorOptions {
  const maxBuilds = options.maxBuilds ?? DEFAULT_MAX_BUILDS;
  if (!Number.isInteger(maxBuilds) || maxBuilds < 1)
    throw new ExecutorConfigError("MAX_BUILDS_INVALID", "maxBuilds must be a positive integer");
  const bootTimeoutMs = options.bootTimeoutMs ?? DEFAULT_BOOT_TIMEOUT_MS;
  if (!(bootTimeoutMs > 0))
    throw new ExecutorConfigError("BOOT_TIMEOUT_INVALID", "bootTimeoutMs must be positive");
  for (const [field, value] of [
    ["account", options.account],
    ["secret", options.secret],
    ["hostName", options.hostName],
    ["region", options.region],
    ["stateDir", options.stateDir],
  ] as const)
    if (!value) throw new ExecutorConfigError("OPTION_MISSING", `${field} is required`);
  return {
    server: options.server,
    account: options.account,
    secret: options.secret,
    project: options.project ?? "",
    hostName: options.hostName,
    region: options.region,
    stateDir: options.stateDir,
    driver: options.driver,
    logger: options.logger,
    ca: options.ca,
    conductor: options.conductor,
    maxBuilds,
    bootTimeoutMs,
    inventoryPolicy: {
      reserved: { ...DEFAULT_RESERVED, ...options.reserved },
      allocationRatios: { ...DEFAULT_ALLOCATION_RATIOS, ...options.allocationRatios },
    },
  };
}

/**
 * The account's secret: the first line of `file` when given, else MULLIGAN_EXECUTOR_SECRET.
 * Never a command-line argument, which every user of the host could read in the process list.
 */
export function readExecutorSecret(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new ExecutorConfigError(
        "SECRET_UNREADABLE",
        `secret file ${file}: ${(err as Error).message}`,
      );
    }
    const secret = text.split(/\r?\n/, 1)[0]?.trim() ?? "";
    if (!secret) throw new ExecutorConfigError("SECRET_MISSING", `secret file ${file} is empty`);
    return secret;
  }
  const secret = env[SECRET_ENV]?.trim();
  if (!secret)
    throw new ExecutorConfigError("SECRET_MISSING", `give a secret file or set ${SECRET_ENV}`);
  return secret;
}

/** A setting the executor cannot start with; `reason` is stable for scripts and tests. */
export class ExecutorConfigError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = "ExecutorConfigError";
  }
}

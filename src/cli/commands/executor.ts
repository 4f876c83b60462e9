/**
 * `mulligan executor`: runs the executor of this host (QEMU guests) until SIGINT or SIGTERM,
 * then stops leasing and lets running tasks finish; guests keep running. The server comes from
 * the global --server (or MULLIGAN_SERVER); the secret from --secret-file or
 * MULLIGAN_EXECUTOR_SECRET, never from the command line.
 */
import { join } from "node:path";
import { Command, Option } from "commander";
import type { Logger } from "pino";
import type { ConductorOptions } from "../../executor/conductor.js";
import type { Executor } from "../../executor/executor.js";
import type { HostClass } from "../../executor/host-inventory.js";
import {
  DEFAULT_BOOT_TIMEOUT_MS,
  DEFAULT_MAX_BUILDS,
  ExecutorConfigError,
  readExecutorSecret,
  SECRET_ENV,
} from "../../executor/options.js";
import { createLogger } from "../../platform/logging.js";
import { globalOptions, resolveTarget } from "../context.js";
import { UsageError } from "../exit-codes.js";
import { count, number } from "../parse.js";

interface ExecutorFlags {
  account: string;
  secretFile?: string;
  project?: string;
  hostName: string;
  region: string;
  stateDir: string;
  accel: "tcg" | "kvm" | "auto";
  maxBuilds: number;
  bootTimeout?: number;
  reserved?: string[];
  allocationRatio?: string[];
  conductorGroup?: string;
  bootListen?: string;
  bootAdvertise?: string;
  serialLogDir?: string;
  agentTimeout?: number;
  bmcTimeout?: number;
  bmcRetries?: number;
  logLevel: string;
}

/** Exit code after a second signal (no waiting for running tasks). */
const FORCED_EXIT = 130;
const HOST_CLASSES: readonly HostClass[] = ["VCPU", "MEMORY_MB", "DISK_GB"];

/** The `executor` subcommand. */
export function executorCommand(): Command {
  return new Command("executor")
    .description("run the executor of this host: lease tasks and build QEMU guests")
    .requiredOption("--account <name>", "the EXECUTOR account to authenticate as")
    .option("--secret-file <path>", `file holding the account's secret (else env ${SECRET_ENV})`)
    .option("--project <project>", "project the token is scoped to (default: none)")
    .requiredOption("--host-name <name>", "name of this host's provider")
    .requiredOption("--region <region>", "region the host is registered in")
    .requiredOption("--state-dir <dir>", "host.json, the image cache and the guests' files")
    .addOption(
      new Option("--accel <accel>", "QEMU accelerator")
        .choices(["tcg", "kvm", "auto"])
        .default("auto"),
    )
    .option(
      "--max-builds <n>",
      "tasks run at once",
      (v) => positive(count(v, "--max-builds"), "--max-builds"),
      DEFAULT_MAX_BUILDS,
    )
    .option(
      "--boot-timeout <seconds>",
      `how long a guest may take to boot (default ${DEFAULT_BOOT_TIMEOUT_MS / 1000})`,
      (v) => positive(count(v, "--boot-timeout"), "--boot-timeout"),
    )
    .option(
      "--reserved <class=amount>",
      "amount kept for the host, repeatable (defaults VCPU=0 MEMORY_MB=512 DISK_GB=1)",
      collect,
    )
    .option(
      "--allocation-ratio <class=ratio>",
      "overcommit, repeatable (defaults VCPU=4 MEMORY_MB=1 DISK_GB=1)",
      collect,
    )
    .option(
      "--conductor-group <group>",
      "also conduct the bare-metal nodes enrolled in this conductor group (e.g. default)",
    )
    .option("--boot-listen <host:port>", "boot server listener (default 127.0.0.1, any port)")
    .option("--boot-advertise <host>", "address nodes reach the boot server at")
    .option("--serial-log-dir <dir>", "<dir>/<node>/serial.log: consoles of simulated nodes")
    .option(
      "--agent-timeout <seconds>",
      "how long a node's deploy agent may take to report in (default 300)",
      (v) => positive(count(v, "--agent-timeout"), "--agent-timeout"),
    )
    .option("--bmc-timeout <seconds>", "per BMC command (default 15)", (v) =>
      positive(count(v, "--bmc-timeout"), "--bmc-timeout"),
    )
    .option("--bmc-retries <n>", "retries of a BMC command (default 3)", (v) =>
      count(v, "--bmc-retries"),
    )
    .option("--log-level <level>", "trace, debug, info, warn or error", "info")
    .action(async (flags: ExecutorFlags, cmd: Command) => {
      const target = resolveTarget(globalOptions(cmd));
      let secret: string;
      try {
        secret = readExecutorSecret(flags.secretFile);
      } catch (err) {
        if (err instanceof ExecutorConfigError) throw new UsageError(err.message);
        throw err;
      }
      const reserved = classValues(flags.reserved ?? [], "--reserved", true);
      const allocationRatios = classValues(
        flags.allocationRatio ?? [],
        "--allocation-ratio",
        false,
      );
      const logger = createLogger(flags.logLevel);
      // Loaded here so that other commands load neither the driver nor the executor.
      const { QemuDriver } = await import("../../executor/drivers/qemu/qemu-driver.js");
      const { Executor } = await import("../../executor/executor.js");
      const driver = await QemuDriver.create({
        stateDir: join(flags.stateDir, "guests"),
        accel: flags.accel,
        logger,
      });
      let executor: Executor;
      try {
        executor = await Executor.start({
          server: target.serverUrl,
          ca: target.ca,
          account: flags.account,
          secret,
          ...(flags.project !== undefined && { project: flags.project }),
          hostName: flags.hostName,
          region: flags.region,
          stateDir: flags.stateDir,
          driver,
          logger,
          maxBuilds: flags.maxBuilds,
          ...(flags.bootTimeout !== undefined && { bootTimeoutMs: flags.bootTimeout * 1000 }),
          reserved,
          allocationRatios,
          ...(flags.conductorGroup !== undefined && { conductor: conductorOptions(flags) }),
        });
      } catch (err) {
        await driver.close();
        throw err;
      }
      await untilSignal(logger);
      await executor.stop();
      await driver.close();
    });
}

/** The conductor's options from --conductor-group, --boot-*, --serial-log-dir, --agent-timeout, --bmc-*. */
function conductorOptions(flags: ExecutorFlags): ConductorOptions {
  const [host, port] = (flags.bootListen ?? "127.0.0.1:0").split(/:(?=[0-9]+$)/);
  const portNumber = Number(port ?? 0);
  if (!host || !Number.isInteger(portNumber) || portNumber < 0 || portNumber > 65535)
    throw new UsageError(`--boot-listen ${flags.bootListen}: expected HOST:PORT`);
  return {
    group: flags.conductorGroup ?? "default",
    boot: {
      host,
      port: portNumber,
      ...(flags.bootAdvertise !== undefined && { advertiseHost: flags.bootAdvertise }),
    },
    ...(flags.serialLogDir !== undefined && { serialLogDir: flags.serialLogDir }),
    ...(flags.agentTimeout !== undefined && {
      timeouts: { agentBootMs: flags.agentTimeout * 1000 },
    }),
    ...(flags.bmcTimeout !== undefined && { bmcTimeoutMs: flags.bmcTimeout * 1000 }),
    ...(flags.bmcRetries !== undefined && { bmcRetries: flags.bmcRetries }),
  };
}

/** Resolves on the first SIGINT/SIGTERM; a second one exits at once. */
function untilSignal(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    let received = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      received += 1;
      if (received > 1) {
        logger.warn({ signal }, "second signal: exiting without waiting for tasks");
        process.exit(FORCED_EXIT);
      }
      logger.info({ signal }, "stopping: no new tasks, waiting for running ones");
      resolve();
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function positive(n: number, what: string): number {
  if (n < 1) throw new UsageError(`${what} must be at least 1`);
  return n;
}

/** `CLASS=NUMBER` pairs of the host's classes (VCPU, MEMORY_MB, DISK_GB). */
function classValues(
  pairs: readonly string[],
  what: string,
  zeroAllowed: boolean,
): Partial<Record<HostClass, number>> {
  const out: Partial<Record<HostClass, number>> = {};
  for (const pair of pairs) {
    const [name = "", value = ""] = pair.split("=", 2);
    const resourceClass = HOST_CLASSES.find((c) => c === name.trim().toUpperCase());
    if (!resourceClass || !pair.includes("="))
      throw new UsageError(`${what} "${pair}" must be CLASS=NUMBER, CLASS one of ${HOST_CLASSES}`);
    const n = number(value, what);
    if (n < 0 || (n === 0 && !zeroAllowed))
      throw new UsageError(`${what} "${pair}" must be ${zeroAllowed ? "0 or more" : "positive"}`);
    out[resourceClass] = n;
  }
  return out;
}

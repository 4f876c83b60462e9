/**
 * `mulligan serve`: runs one Mulligan process. Settings come from flags, MULLIGAN_* variables
 * and a YAML file (see src/platform/config.ts). On SIGTERM or SIGINT the process turns
 * NOT_SERVING, leaves the catalog, lets in-flight calls finish up to the drain timeout and
 * exits 0; a second signal exits at once. A bad setting is one line on stderr and exit code 2.
 */
import { Command, Option } from "commander";
import type { Logger } from "pino";
import type { Host } from "../../host/host.js";
import type { LocalExecutorOptions } from "../../host/local-executor.js";
import {
  ConfigError,
  DEFAULT_DATA_DIR,
  DEFAULT_LISTEN,
  loadServeConfig,
  type ServeFlags,
} from "../../platform/config.js";
import { MulliganError } from "../../platform/errors.js";
import { createLogger } from "../../platform/logging.js";
import { PARTS } from "../../platform/service-module.js";

/** Exit codes of `mulligan serve`, for scripts and service managers. */
export const SERVE_EXIT = { ok: 0, failed: 1, badConfig: 2, forced: 130 } as const;

/** The `serve` subcommand, added to the program by src/cli/main.ts. */
export function serveCommand(): Command {
  return new Command("serve")
    .description("run the Mulligan server (every service unless --services is given)")
    .option("--config <file>", "YAML file with any of the settings below (env: MULLIGAN_CONFIG)")
    .option(
      "--listen <host:port>",
      `gRPC address (env: MULLIGAN_LISTEN, default ${DEFAULT_LISTEN.host}:${DEFAULT_LISTEN.port})`,
    )
    .option(
      "--data-dir <dir>",
      `data directory (env: MULLIGAN_DATA_DIR, default ${DEFAULT_DATA_DIR})`,
    )
    .option(
      "--database <url>",
      "sqlite:PATH or postgres://… (env: MULLIGAN_DATABASE_URL, default sqlite:<data-dir>/mulligan.db)",
    )
    .option("--services <list>", `comma-separated parts to host: ${PARTS.join(",")} (default all)`)
    .option("--tls-cert <file>", "TLS certificate (PEM); required for a non-loopback --listen")
    .option("--tls-key <file>", "TLS private key (PEM)")
    .option("--insecure", "allow a non-loopback --listen without TLS")
    .option("--metrics-listen <host:port>", "serve Prometheus metrics at http://HOST:PORT/metrics")
    .option(
      "--drain-timeout <duration>",
      "how long in-flight calls may finish after SIGTERM (default 10s)",
    )
    .option(
      "--log-level <level>",
      "trace, debug, info, warn, error, fatal or silent (default info)",
    )
    .option("--advertise-url <url>", "URL published in the catalog (default: from --listen)")
    .option(
      "--control-lease <duration>",
      "how long an executor holds a task without reporting (env: MULLIGAN_CONTROL_LEASE, default 30s)",
    )
    .option(
      "--control-schedule-hold <duration>",
      "how long a dead scheduler's machine waits before another takes it (default 30s)",
    )
    .option(
      "--control-task-deadline <duration>",
      "a task no executor has leased or renewed for this long fails EXECUTOR_LOST (default 10m)",
    )
    .option(
      "--control-power-sync-interval <duration>",
      "an idle node's power is read from its BMC when unchecked for this long (default 5m)",
    )
    .option(
      "--control-power-sync-max-failures <count>",
      "power syncs of a node that may fail in a row before it goes into maintenance (default 3)",
    )
    .option(
      "--local-executor",
      "also run an executor for this machine (QEMU guests), registered in --executor-region",
    )
    .option("--executor-region <region>", "region of the local executor's host", "default")
    .addOption(
      new Option(
        "--executor-accel <accel>",
        "QEMU accelerator of the local executor (auto: KVM when it works, else TCG)",
      )
        .choices(["tcg", "kvm", "auto"])
        .default("auto"),
    )
    .action(
      async (
        flags: ServeFlags & {
          localExecutor?: boolean;
          executorRegion: string;
          executorAccel: LocalExecutorOptions["accel"];
        },
      ) => {
        const { localExecutor, executorRegion, executorAccel, ...serve } = flags;
        await runServe(
          serve,
          process.env,
          localExecutor ? { region: executorRegion, accel: executorAccel } : undefined,
        );
      },
    );
}

/** Starts the host and installs the signal handlers; returns once serving. */
export async function runServe(
  flags: ServeFlags,
  env: NodeJS.ProcessEnv = process.env,
  localExecutor?: LocalExecutorOptions,
): Promise<Host> {
  let config: ReturnType<typeof loadServeConfig>;
  try {
    config = loadServeConfig(flags, env);
  } catch (err) {
    if (err instanceof ConfigError) fail(SERVE_EXIT.badConfig, err.message);
    throw err;
  }
  const logger = createLogger(config.logLevel);
  // Loaded here so that client commands do not pay for loading the whole server.
  const { Host } = await import("../../host/host.js");
  let host: Host;
  try {
    host = await Host.start({ config, logger, processMetrics: true });
  } catch (err) {
    const message = (err as Error).message;
    logger.fatal({ err: message }, "cannot start");
    const invalid = err instanceof MulliganError && err.code === "INVALID_ARGUMENT";
    fail(invalid ? SERVE_EXIT.badConfig : SERVE_EXIT.failed, message);
  }
  let beforeStop = async () => {};
  if (localExecutor) {
    const { startLocalExecutor } = await import("../../host/local-executor.js");
    const executor = await startLocalExecutor(host, logger, localExecutor);
    beforeStop = () => executor.stop();
  }
  handleSignals(host, logger, beforeStop);
  return host;
}

function handleSignals(host: Host, logger: Logger, beforeStop: () => Promise<void>): void {
  let received = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    received += 1;
    if (received > 1) {
      logger.warn({ signal }, "second signal: exiting without draining");
      process.exit(SERVE_EXIT.forced);
    }
    logger.info({ signal, drainMs: host.config.drainTimeoutMs }, "draining");
    // If closing the store or a part hangs, do not outlive the drain by much.
    setTimeout(() => {
      logger.error("shutdown did not finish in time");
      process.exit(SERVE_EXIT.failed);
    }, host.config.drainTimeoutMs + 5000).unref();
    beforeStop()
      .catch((err: Error) => logger.error({ err: err.message }, "local executor did not stop"))
      .then(() => host.stop())
      .then(
        () => process.exit(SERVE_EXIT.ok),
        (err: Error) => {
          logger.error({ err: err.message }, "shutdown failed");
          process.exit(SERVE_EXIT.failed);
        },
      );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

function fail(code: number, message: string): never {
  process.stderr.write(`mulligan serve: ${message}\n`);
  process.exit(code);
}

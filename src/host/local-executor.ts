/**
 * The executor that `mulligan serve --local-executor` runs beside the server, so one command
 * gives a newcomer a control plane with a host to build VMs on. It is an ordinary executor: an
 * EXECUTOR account (made on first start, secret in the data directory), talking gRPC to this
 * process. It starts as soon as the server is bootstrapped (tokens need signing keys) and
 * registers this machine in the region `region`.
 */
import { hostname } from "node:os";
import { join } from "node:path";
import type { Logger } from "pino";
import type { Executor } from "../executor/executor.js";
import { ensureServiceAccount } from "../iam/service-accounts.js";
import type { Host } from "./host.js";

/** How long to wait between tries while the server is not bootstrapped yet. */
const RETRY_MS = 500;
export const LOCAL_EXECUTOR_ACCOUNT = "local-executor";

export interface LocalExecutor {
  stop(): Promise<void>;
}

export interface LocalExecutorOptions {
  region?: string;
  hostName?: string;
  /** QEMU's accelerator (default auto: KVM when it boots guests, else TCG). */
  accel?: "tcg" | "kvm" | "auto";
}

export async function startLocalExecutor(
  host: Host,
  logger: Logger,
  options: LocalExecutorOptions = {},
): Promise<LocalExecutor> {
  const stateDir = join(host.config.dataDir, "executor");
  const { QemuDriver } = await import("../executor/drivers/qemu/qemu-driver.js");
  const { Executor: ExecutorClass } = await import("../executor/executor.js");
  const driver = await QemuDriver.create({
    stateDir: join(stateDir, "guests"),
    accel: options.accel ?? "auto",
    logger,
  });
  let executor: Executor | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let told = false;
  const attempt = async (): Promise<void> => {
    try {
      const secret = await ensureServiceAccount(host.store, {
        name: LOCAL_EXECUTOR_ACCOUNT,
        kind: "executor",
        role: "executor",
        secretFile: join(stateDir, "secret"),
      });
      const started = await ExecutorClass.start({
        server: host.url,
        account: LOCAL_EXECUTOR_ACCOUNT,
        secret,
        hostName: options.hostName ?? hostname(),
        region: options.region ?? "default",
        stateDir,
        driver,
        logger: logger.child({ component: "local-executor" }),
      });
      if (stopped) await started.stop();
      else {
        executor = started;
        logger.info({ host: started.host.name }, "local executor running");
      }
    } catch (err) {
      if (!told)
        logger.info(
          { reason: (err as Error).message },
          "local executor waits for the server to be bootstrapped (mulligan bootstrap) and its region to exist",
        );
      told = true;
      if (!stopped) timer = setTimeout(() => void attempt(), RETRY_MS);
    }
  };
  await attempt();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await executor?.stop();
      await driver.close();
    },
  };
}

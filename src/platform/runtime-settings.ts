/**
 * The Configure RPC shared by every service: runtime settings that change without a restart.
 * Today: the service's log level.
 */
import type { HandlerContext } from "@connectrpc/connect";
import type { Logger } from "pino";
import { principalOf } from "./caller.js";
import { MulliganError } from "./errors.js";
import type { Principal } from "./principal.js";
import { Violations } from "./validate.js";

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

export interface RuntimeSettingsInput {
  logLevel: string;
}

/**
 * Applies the masked settings to the service's logger and returns the settings now in force.
 * Settings are process-wide, so only a global admin may change them (a project admin may not).
 */
export function applyRuntimeSettings(
  principal: Principal,
  logger: Logger,
  settings: RuntimeSettingsInput | undefined,
  maskPaths: readonly string[],
): RuntimeSettingsInput {
  if (!principal.globalRoles.includes("admin"))
    throw MulliganError.permissionDenied(
      "GLOBAL_ADMIN_REQUIRED",
      "runtime settings need a global admin binding",
    );
  const v = new Violations();
  for (const path of maskPaths) {
    if (path !== "settings.log_level" && path !== "log_level")
      v.add("update_mask", "UPDATE_MASK_INVALID", `cannot update "${path}" (allowed: log_level)`);
  }
  const level = settings?.logLevel ?? "";
  const changing = maskPaths.length > 0;
  if (changing && !LOG_LEVELS.includes(level as (typeof LOG_LEVELS)[number]))
    v.add("settings.log_level", "LOG_LEVEL_INVALID", `must be one of ${LOG_LEVELS.join(", ")}`);
  v.throwIfAny();
  if (changing) logger.level = level;
  return { logLevel: logger.level };
}

/** The Configure handler of every service: applies the request's masked settings to `logger`. */
export function configureHandler(logger: Logger) {
  return async (
    req: { settings?: RuntimeSettingsInput; updateMask?: { paths: string[] } },
    ctx: HandlerContext,
  ) => ({
    settings: applyRuntimeSettings(
      principalOf(ctx),
      logger,
      req.settings,
      req.updateMask?.paths ?? [],
    ),
  });
}

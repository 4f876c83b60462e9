/**
 * Settings of `mulligan serve`, with every default in one place. Sources, later ones winning:
 * defaults, the YAML file (--config), the environment (MULLIGAN_*), command-line flags. Every
 * value is validated with the source it came from, so an error names both.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { redact } from "../store/store.js";
import { LOG_LEVELS } from "./runtime-settings.js";
import { PARTS, type Part } from "./service-module.js";

export interface HostPort {
  host: string;
  port: number;
}

export interface ServeConfig {
  listen: HostPort;
  dataDir: string;
  /** sqlite:PATH or postgres://… */
  databaseUrl: string;
  /** Parts hosted by this process. */
  services: Part[];
  tls?: { certFile: string; keyFile: string };
  /** Explicitly allows a non-loopback listener without TLS. */
  insecure: boolean;
  /** Where Prometheus metrics are served; unset for none. */
  metricsListen?: HostPort;
  /** How long in-flight calls may run after SIGTERM. */
  drainTimeoutMs: number;
  logLevel: string;
  /** URL other processes and clients use to reach this one (default: from listen). */
  advertiseUrl?: string;
  /**
   * Control's tunables (lease length, attempts, task deadline, power sync); defaults in
   * src/control/deps.ts.
   */
  control?: {
    maxAttempts?: number;
    leaseMs?: number;
    taskDeadlineMs?: number;
    scheduleHoldMs?: number;
    powerSyncIntervalMs?: number;
    powerSyncMaxFailures?: number;
  };
}

export const DEFAULT_LISTEN: HostPort = { host: "127.0.0.1", port: 7443 };
export const DEFAULT_DATA_DIR = "./.mulligan";
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

/** The configuration with every default filled in. */
export function defaultServeConfig(dataDir = DEFAULT_DATA_DIR): ServeConfig {
  return {
    listen: { ...DEFAULT_LISTEN },
    dataDir,
    databaseUrl: `sqlite:${join(dataDir, "mulligan.db")}`,
    services: [...PARTS],
    insecure: false,
    drainTimeoutMs: DEFAULT_DRAIN_TIMEOUT_MS,
    logLevel: "info",
  };
}

/** A setting that cannot be used; the message names the setting, its value and its source. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** Values given on the command line (commander's camelCase option names); unset = undefined. */
export interface ServeFlags {
  config?: string;
  listen?: string;
  dataDir?: string;
  database?: string;
  services?: string;
  tlsCert?: string;
  tlsKey?: string;
  insecure?: boolean;
  metricsListen?: string;
  drainTimeout?: string;
  logLevel?: string;
  advertiseUrl?: string;
  controlLease?: string;
  controlScheduleHold?: string;
  controlTaskDeadline?: string;
  controlPowerSyncInterval?: string;
  controlPowerSyncMaxFailures?: string;
}

/** Parses "HOST:PORT" ("[::1]:7443" for IPv6); undefined if malformed. */
export function parseHostPort(text: string): HostPort | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[3]);
  if (!m || port > 65535) return undefined;
  return { host: m[1] ?? m[2] ?? "", port };
}

/** Parses "10s", "500ms", "2m" or a plain number of milliseconds; undefined if malformed. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) && value >= 0 ? value : undefined;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m)?$/.exec(value.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000 }[m[2] ?? "ms"] ?? 1;
  return Math.round(Number(m[1]) * unit);
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

const text = z.string().trim().min(1, "must not be empty");
const hostPort = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const hp = parseHostPort(String(v));
  if (!hp) ctx.addIssue({ code: "custom", message: "must be HOST:PORT (e.g. 127.0.0.1:7443)" });
  return hp ?? DEFAULT_LISTEN;
});
const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === undefined)
    ctx.addIssue({ code: "custom", message: 'must be a duration such as "10s", "500ms" or "1m"' });
  return ms ?? 0;
});
const positiveDuration = duration.refine((ms) => ms > 0, "must be longer than 0");
const positiveCount = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const n = typeof v === "number" ? v : /^\s*\d+\s*$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1)
    ctx.addIssue({ code: "custom", message: "must be a whole number of at least 1" });
  return n;
});
const services = z.union([z.string(), z.array(z.string())]).transform((v, ctx) => {
  const names = (Array.isArray(v) ? v : v.split(",")).map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !PARTS.includes(n as Part));
  if (unknown.length > 0 || names.length === 0)
    ctx.addIssue({
      code: "custom",
      message: `${unknown.length > 0 ? `unknown service ${unknown.join(", ")}; ` : ""}valid services are ${PARTS.join(", ")}`,
    });
  return [...new Set(names)] as Part[];
});
const flag = z.union([z.boolean(), z.string()]).transform((v, ctx) => {
  if (typeof v === "boolean") return v;
  const s = v.trim().toLowerCase();
  if (["true", "1", "yes"].includes(s)) return true;
  if (["false", "0", "no", ""].includes(s)) return false;
  ctx.addIssue({ code: "custom", message: "must be true or false" });
  return false;
});
const databaseUrl = text.refine(
  (v) => /^(sqlite:.+|postgres(ql)?:\/\/.+)$/.test(v),
  "must be sqlite:PATH or postgres://USER@HOST:PORT/DB",
);
const url = text.refine((v) => /^https?:\/\/[^/\s]+\/?$/.test(v), "must be http(s)://HOST:PORT");
const readableFile = text.refine((v) => existsSync(v), "file does not exist");

/** Every setting: its YAML key, env variable, flag, and validator. */
const SETTINGS = {
  listen: { env: "MULLIGAN_LISTEN", flag: "listen", schema: hostPort },
  data_dir: { env: "MULLIGAN_DATA_DIR", flag: "dataDir", schema: text },
  database: { env: "MULLIGAN_DATABASE_URL", flag: "database", schema: databaseUrl },
  services: { env: "MULLIGAN_SERVICES", flag: "services", schema: services },
  tls_cert: { env: "MULLIGAN_TLS_CERT", flag: "tlsCert", schema: readableFile },
  tls_key: { env: "MULLIGAN_TLS_KEY", flag: "tlsKey", schema: readableFile },
  insecure: { env: "MULLIGAN_INSECURE", flag: "insecure", schema: flag },
  metrics_listen: { env: "MULLIGAN_METRICS_LISTEN", flag: "metricsListen", schema: hostPort },
  drain_timeout: { env: "MULLIGAN_DRAIN_TIMEOUT", flag: "drainTimeout", schema: duration },
  log_level: { env: "MULLIGAN_LOG_LEVEL", flag: "logLevel", schema: z.enum(LOG_LEVELS) },
  advertise_url: { env: "MULLIGAN_ADVERTISE_URL", flag: "advertiseUrl", schema: url },
  control_lease: { env: "MULLIGAN_CONTROL_LEASE", flag: "controlLease", schema: positiveDuration },
  control_schedule_hold: {
    env: "MULLIGAN_CONTROL_SCHEDULE_HOLD",
    flag: "controlScheduleHold",
    schema: positiveDuration,
  },
  control_task_deadline: {
    env: "MULLIGAN_CONTROL_TASK_DEADLINE",
    flag: "controlTaskDeadline",
    schema: positiveDuration,
  },
  control_power_sync_interval: {
    env: "MULLIGAN_CONTROL_POWER_SYNC_INTERVAL",
    flag: "controlPowerSyncInterval",
    schema: positiveDuration,
  },
  control_power_sync_max_failures: {
    env: "MULLIGAN_CONTROL_POWER_SYNC_MAX_FAILURES",
    flag: "controlPowerSyncMaxFailures",
    schema: positiveCount,
  },
} as const satisfies Record<string, { env: string; flag: keyof ServeFlags; schema: z.ZodType }>;

type Key = keyof typeof SETTINGS;
type Values = { [K in Key]?: z.output<(typeof SETTINGS)[K]["schema"]> };

/**
 * Builds the configuration from the file named by `--config` (or MULLIGAN_CONFIG), the
 * environment and the flags; throws ConfigError on the first bad setting.
 */
export function loadServeConfig(
  flags: ServeFlags,
  env: NodeJS.ProcessEnv = process.env,
): ServeConfig {
  const file = flags.config ?? env.MULLIGAN_CONFIG;
  const fromFile = file ? readConfigFile(file) : {};
  const values: Values = {};
  const sources: Partial<Record<Key, string>> = {};
  for (const key of Object.keys(SETTINGS) as Key[]) {
    const s = SETTINGS[key];
    const layers: [unknown, string][] = [
      [fromFile[key], `${key} in ${file}`],
      [env[s.env], s.env],
      [flags[s.flag], `--${s.flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`],
    ];
    for (const [raw, source] of layers) {
      if (raw === undefined || raw === null) continue;
      const parsed = s.schema.safeParse(raw);
      if (!parsed.success)
        throw new ConfigError(
          `${key} ${JSON.stringify(key === "database" ? redact(String(raw)) : raw)} (from ${source}): ${parsed.error.issues[0]?.message ?? "invalid"}`,
        );
      (values as Record<Key, unknown>)[key] = parsed.data;
      sources[key] = source;
    }
  }
  return assemble(values, sources);
}

function readConfigFile(path: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, "utf8"));
  } catch (err) {
    throw new ConfigError(`config file ${path}: ${(err as Error).message.split("\n")[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc))
    throw new ConfigError(`config file ${path}: must be a mapping of settings`);
  const unknown = Object.keys(doc).filter((k) => !(k in SETTINGS));
  if (unknown.length > 0)
    throw new ConfigError(
      `config file ${path}: unknown setting ${unknown.join(", ")} (valid: ${Object.keys(SETTINGS).join(", ")})`,
    );
  return doc as Record<string, unknown>;
}

function assemble(v: Values, sources: Partial<Record<Key, string>>): ServeConfig {
  const config = defaultServeConfig(v.data_dir ?? DEFAULT_DATA_DIR);
  if (v.listen) config.listen = v.listen;
  if (v.database) config.databaseUrl = v.database;
  if (v.services) config.services = v.services;
  if (v.insecure !== undefined) config.insecure = v.insecure;
  if (v.metrics_listen) config.metricsListen = v.metrics_listen;
  if (v.drain_timeout !== undefined) config.drainTimeoutMs = v.drain_timeout;
  if (v.log_level) config.logLevel = v.log_level;
  if (v.advertise_url) config.advertiseUrl = v.advertise_url.replace(/\/$/, "");
  const control = {
    ...(v.control_lease !== undefined && { leaseMs: v.control_lease }),
    ...(v.control_schedule_hold !== undefined && { scheduleHoldMs: v.control_schedule_hold }),
    ...(v.control_task_deadline !== undefined && { taskDeadlineMs: v.control_task_deadline }),
    ...(v.control_power_sync_interval !== undefined && {
      powerSyncIntervalMs: v.control_power_sync_interval,
    }),
    ...(v.control_power_sync_max_failures !== undefined && {
      powerSyncMaxFailures: v.control_power_sync_max_failures,
    }),
  };
  if (Object.keys(control).length > 0) config.control = control;
  if ((v.tls_cert === undefined) !== (v.tls_key === undefined)) {
    const given = v.tls_cert ? "tls_cert" : "tls_key";
    throw new ConfigError(
      `${given} (from ${sources[given]}) needs its pair: give both --tls-cert and --tls-key`,
    );
  }
  if (v.tls_cert && v.tls_key) config.tls = { certFile: v.tls_cert, keyFile: v.tls_key };
  if (!config.tls && !config.insecure && !isLoopback(config.listen.host))
    throw new ConfigError(
      `listen "${config.listen.host}:${config.listen.port}" (from ${sources.listen}): a non-loopback ` +
        "address needs TLS; pass --tls-cert and --tls-key, or --insecure to serve cleartext anyway",
    );
  return config;
}

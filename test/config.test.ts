/**
 * `mulligan serve` settings: defaults, the YAML file, the environment and flags (later ones
 * winning), and one clear error naming the setting, its value and its source for each bad one.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  ConfigError,
  loadServeConfig,
  parseDuration,
  parseHostPort,
  type ServeFlags,
} from "../src/platform/config.js";

const dir = mkdtempSync(join(tmpdir(), "mulligan-config-"));
let files = 0;
function yamlFile(body: string): string {
  const path = join(dir, `config-${++files}.yaml`);
  writeFileSync(path, body);
  return path;
}
const pem = join(dir, "cert.pem");
writeFileSync(pem, "not really a certificate; only its existence is checked here");

describe("serve configuration", () => {
  it("has working defaults", () => {
    const c = loadServeConfig({}, {});
    assert.deepEqual(c.listen, { host: "127.0.0.1", port: 7443 });
    assert.equal(c.dataDir, "./.mulligan");
    assert.equal(c.databaseUrl, "sqlite:.mulligan/mulligan.db");
    assert.deepEqual(c.services, ["iam", "meta", "resource", "control"]);
    assert.equal(c.drainTimeoutMs, 10_000);
    assert.equal(c.logLevel, "info");
    assert.equal(c.insecure, false);
    assert.equal(c.tls, undefined);
    assert.equal(c.metricsListen, undefined);
  });

  it("takes control's lease, schedule hold and task deadline as durations", () => {
    assert.equal(loadServeConfig({}, {}).control, undefined);
    const c = loadServeConfig(
      { controlLease: "3s" },
      { MULLIGAN_CONTROL_SCHEDULE_HOLD: "2s", MULLIGAN_CONTROL_TASK_DEADLINE: "1m" },
    );
    assert.deepEqual(c.control, { leaseMs: 3000, scheduleHoldMs: 2000, taskDeadlineMs: 60_000 });
    assert.throws(
      () => loadServeConfig({ controlLease: "0s" }, {}),
      /control_lease "0s" \(from --control-lease\): must be longer than 0/,
    );
  });

  it("puts the default database inside the data dir, whatever the source", () => {
    assert.equal(
      loadServeConfig({ dataDir: "/srv/m" }, {}).databaseUrl,
      "sqlite:/srv/m/mulligan.db",
    );
    assert.equal(
      loadServeConfig({}, { MULLIGAN_DATA_DIR: "/var/lib/m" }).databaseUrl,
      "sqlite:/var/lib/m/mulligan.db",
    );
  });

  it("layers file < env < flags", () => {
    const file = yamlFile(
      [
        "listen: 127.0.0.1:1000",
        "data_dir: /from/file",
        "services: [meta]",
        "log_level: warn",
        "drain_timeout: 250",
        "metrics_listen: 127.0.0.1:9464",
        "advertise_url: https://m.example.net:7443/",
      ].join("\n"),
    );
    const fileOnly = loadServeConfig({ config: file }, {});
    assert.deepEqual(fileOnly.listen, { host: "127.0.0.1", port: 1000 });
    assert.deepEqual(fileOnly.services, ["meta"]);
    assert.equal(fileOnly.drainTimeoutMs, 250);
    assert.equal(fileOnly.logLevel, "warn");
    assert.deepEqual(fileOnly.metricsListen, { host: "127.0.0.1", port: 9464 });
    assert.equal(fileOnly.advertiseUrl, "https://m.example.net:7443");
    const env = {
      MULLIGAN_LISTEN: "127.0.0.1:2000",
      MULLIGAN_DATABASE_URL: "postgres://u@db:5432/m",
      MULLIGAN_LOG_LEVEL: "debug",
    };
    const withEnv = loadServeConfig({ config: file }, env);
    assert.deepEqual(withEnv.listen, { host: "127.0.0.1", port: 2000 });
    assert.equal(withEnv.databaseUrl, "postgres://u@db:5432/m");
    assert.equal(withEnv.logLevel, "debug");
    const withFlags = loadServeConfig(
      { config: file, listen: "[::1]:3000", services: "iam, meta", drainTimeout: "2s" },
      env,
    );
    assert.deepEqual(withFlags.listen, { host: "::1", port: 3000 });
    assert.deepEqual(withFlags.services, ["iam", "meta"]);
    assert.equal(withFlags.drainTimeoutMs, 2000);
    assert.equal(withFlags.dataDir, "/from/file");
  });

  it("reads the config file named by MULLIGAN_CONFIG", () => {
    const file = yamlFile("listen: 127.0.0.1:4000\n");
    assert.equal(loadServeConfig({}, { MULLIGAN_CONFIG: file }).listen.port, 4000);
  });

  it("accepts a non-loopback listener with TLS or with an explicit --insecure", () => {
    const tls = loadServeConfig({ listen: "0.0.0.0:7443", tlsCert: pem, tlsKey: pem }, {});
    assert.deepEqual(tls.tls, { certFile: pem, keyFile: pem });
    assert.equal(loadServeConfig({ listen: "0.0.0.0:7443", insecure: true }, {}).insecure, true);
    assert.equal(
      loadServeConfig({ listen: "10.0.0.1:7443" }, { MULLIGAN_INSECURE: "true" }).insecure,
      true,
    );
    assert.equal(loadServeConfig({ listen: "localhost:7443" }, {}).listen.host, "localhost");
  });

  const bad: {
    name: string;
    flags?: ServeFlags;
    env?: Record<string, string>;
    yaml?: string;
    error: RegExp;
  }[] = [
    {
      name: "malformed listen from env",
      env: { MULLIGAN_LISTEN: "abc" },
      error: /^listen "abc" \(from MULLIGAN_LISTEN\): must be HOST:PORT/,
    },
    {
      name: "port out of range from a flag",
      flags: { listen: "127.0.0.1:70000" },
      error: /^listen "127\.0\.0\.1:70000" \(from --listen\): must be HOST:PORT/,
    },
    {
      name: "unknown service",
      flags: { services: "iam,bogus" },
      error:
        /^services "iam,bogus" \(from --services\): unknown service bogus; valid services are iam, meta, resource, control$/,
    },
    {
      name: "empty service list",
      env: { MULLIGAN_SERVICES: " , " },
      error:
        /^services " , " \(from MULLIGAN_SERVICES\): valid services are iam, meta, resource, control$/,
    },
    {
      name: "non-loopback listen without TLS",
      flags: { listen: "0.0.0.0:7443" },
      error:
        /^listen "0\.0\.0\.0:7443" \(from --listen\): a non-loopback address needs TLS; pass --tls-cert and --tls-key, or --insecure/,
    },
    {
      name: "certificate without key",
      flags: { tlsCert: pem },
      error: /^tls_cert \(from --tls-cert\) needs its pair: give both --tls-cert and --tls-key$/,
    },
    {
      name: "missing certificate file",
      flags: { tlsCert: "/nonexistent/cert.pem", tlsKey: pem },
      error: /^tls_cert "\/nonexistent\/cert\.pem" \(from --tls-cert\): file does not exist$/,
    },
    {
      name: "bad drain timeout",
      flags: { drainTimeout: "soon" },
      error: /^drain_timeout "soon" \(from --drain-timeout\): must be a duration/,
    },
    {
      name: "bad log level",
      env: { MULLIGAN_LOG_LEVEL: "loud" },
      error: /^log_level "loud" \(from MULLIGAN_LOG_LEVEL\): /,
    },
    {
      name: "unsupported database",
      env: { MULLIGAN_DATABASE_URL: "mysql://x" },
      error:
        /^database "mysql:\/\/x" \(from MULLIGAN_DATABASE_URL\): must be sqlite:PATH or postgres:/,
    },
    {
      name: "unsupported database, without showing its password",
      flags: { database: "mysql://admin:hunter2@db/m" },
      error: /^database "mysql:\/\/admin:\*\*\*@db\/m" \(from --database\): must be sqlite:PATH/,
    },
    {
      name: "bad insecure value",
      env: { MULLIGAN_INSECURE: "maybe" },
      error: /^insecure "maybe" \(from MULLIGAN_INSECURE\): must be true or false$/,
    },
    {
      name: "bad advertise URL in the file",
      yaml: "advertise_url: ftp://x\n",
      error:
        /^advertise_url "ftp:\/\/x" \(from advertise_url in .*\.yaml\): must be http\(s\):\/\/HOST:PORT$/,
    },
    {
      name: "unknown key in the file",
      yaml: "listen: 127.0.0.1:1\nlisten_port: 2\n",
      error: /config-\d+\.yaml: unknown setting listen_port \(valid: listen, data_dir, database,/,
    },
    {
      name: "file that is not a mapping",
      yaml: "- listen\n",
      error: /config-\d+\.yaml: must be a mapping of settings$/,
    },
    {
      name: "file with a YAML syntax error",
      yaml: "listen: [unclosed\n",
      error: /config-\d+\.yaml: /,
    },
  ];
  for (const t of bad) {
    it(`refuses ${t.name}`, () => {
      const flags = { ...t.flags, ...(t.yaml ? { config: yamlFile(t.yaml) } : {}) };
      assert.throws(
        () => loadServeConfig(flags, t.env ?? {}),
        (err: unknown) => err instanceof ConfigError && t.error.test(err.message),
      );
    });
  }

  it("refuses a missing config file", () => {
    assert.throws(() => loadServeConfig({ config: join(dir, "missing.yaml") }, {}), ConfigError);
  });

  it("parses durations and addresses", () => {
    assert.equal(parseDuration("10s"), 10_000);
    assert.equal(parseDuration("1.5s"), 1500);
    assert.equal(parseDuration("500ms"), 500);
    assert.equal(parseDuration("2m"), 120_000);
    assert.equal(parseDuration("750"), 750);
    assert.equal(parseDuration(-1), undefined);
    assert.equal(parseDuration("10 parsecs"), undefined);
    assert.deepEqual(parseHostPort("[::]:80"), { host: "::", port: 80 });
    assert.equal(parseHostPort("host"), undefined);
    assert.equal(parseHostPort(":80"), undefined);
  });
});

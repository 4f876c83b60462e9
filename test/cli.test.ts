/**
 * The `mulligan` executable, spawned for real, against real servers on both stores: bootstrap
 * (online and offline), the stored login and its file mode, region commands in table and JSON,
 * and the one-line errors with their exit codes (NOT_FOUND 4, INVALID_ARGUMENT 3 with reason
 * and field, FAILED_PRECONDITION 7, usage 2, unreachable server 9); serve's local executor
 * honours --executor-accel.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Host } from "../src/host/host.js";
import { exits, mulligan } from "./cli-helpers.js";
import { closedPort, type FreshStore, freshStore, STORE_KINDS, startHost } from "./harness.js";

for (const kind of STORE_KINDS) {
  describe(`mulligan CLI against a server [${kind}]`, () => {
    let store: FreshStore | undefined;
    let host: Host | undefined;
    const config = mkdtempSync(join(tmpdir(), "mulligan-cli-"));
    let server = "";
    let secret = "";
    const cli = (...args: string[]) => mulligan(config, ["--server", server, ...args]);

    before(async () => {
      store = await freshStore(kind);
      host = await startHost(store.url);
      server = host.url.replace("http://", "");
    });
    after(async () => {
      await host?.stop(1000);
      await store?.drop();
      rmSync(config, { recursive: true, force: true });
    });

    it("bootstrap -o json prints the admin's credentials once and stores the login", async () => {
      const run = await cli("bootstrap", "-o", "json");
      exits(run, 0);
      const out = JSON.parse(run.stdout) as Record<string, string>;
      assert.deepEqual(
        { account: out.account, project: out.project, region: out.region, server: out.server },
        { account: "admin", project: "admin", region: "default", server: host?.url },
      );
      assert.ok((out.secret ?? "").length >= 16, "a secret");
      assert.equal(out.token?.split(".").length, 3, "a JWT");
      secret = out.secret ?? "";
      const who = await cli("whoami", "-o", "json");
      exits(who, 0);
      assert.equal((JSON.parse(who.stdout) as { account: { name: string } }).account.name, "admin");
    });

    it("refuses a second bootstrap with ALREADY_BOOTSTRAPPED and exit code 7", async () => {
      const run = await cli("bootstrap");
      exits(run, 7);
      assert.match(run.stderr, /^error: FAILED_PRECONDITION ALREADY_BOOTSTRAPPED: .+\n$/);
      assert.equal(run.stdout, "");
    });

    it("logs in with the printed secret from stdin and stores the token with mode 0600", async () => {
      exits(await mulligan(config, ["logout"]), 0);
      const denied = await cli("region", "list");
      exits(denied, 6);
      assert.match(denied.stderr, /^error: UNAUTHENTICATED /);
      const run = await mulligan(
        config,
        ["--server", server, "login", "--account", "admin", "--project", "admin", "--secret-stdin"],
        `${secret}\n`,
      );
      exits(run, 0);
      assert.match(run.stdout, /token stored in /);
      assert.equal(statSync(join(config, "credentials.json")).mode & 0o777, 0o600);
      assert.equal(statSync(config).mode & 0o777, 0o700);
      // Later commands find the server and the token in the stored login.
      const who = await mulligan(config, ["whoami"]);
      exits(who, 0);
      assert.match(who.stdout, /admin/);
    });

    it("a wrong secret is UNAUTHENTICATED, exit code 6", async () => {
      const run = await cli("login", "--account", "admin", "--secret", "not-the-secret");
      exits(run, 6);
      assert.match(run.stderr, /^error: UNAUTHENTICATED [A-Z_]+: /);
    });

    it("creates and lists regions as tables and as JSON", async () => {
      const created = await cli(
        "region",
        "create",
        "east-1",
        "--visibility",
        "external",
        "--power",
        "pdu-a",
        "--network",
        "tor-1",
        "--description",
        "first rack",
        "-o",
        "json",
      );
      exits(created, 0);
      const region = JSON.parse(created.stdout) as Record<string, unknown>;
      assert.equal(region.name, "east-1");
      assert.equal(region.visibility, "VISIBILITY_EXTERNAL");
      assert.deepEqual(region.failureDomain, { power: "pdu-a", network: "tor-1" });
      exits(await cli("region", "create", "east-1a", "--parent", "east-1"), 0);

      const table = await cli("region", "list");
      exits(table, 0);
      const lines = table.stdout.split("\n");
      assert.ok(
        lines.some((l) => /NAME.*PARENT.*VISIBILITY/.test(l)),
        table.stdout,
      );
      assert.ok(
        lines.some((l) => /east-1a .*east-1 /.test(l)),
        table.stdout,
      );
      assert.ok(
        lines.some((l) => /east-1 .*external.*pdu-a.*tor-1/.test(l)),
        table.stdout,
      );

      const json = await cli("region", "list", "-o", "json");
      exits(json, 0);
      const names = (JSON.parse(json.stdout) as { name: string }[]).map((r) => r.name).sort();
      assert.deepEqual(names, ["default", "east-1", "east-1a"]);

      const limited = await cli("region", "list", "--limit", "2", "-o", "yaml");
      exits(limited, 0);
      assert.equal(limited.stdout.match(/^- uuid: /gm)?.length, 2, limited.stdout);
    });

    it("prints NOT_FOUND as one line and exits 4", async () => {
      const run = await cli("region", "show", "no-such-region");
      exits(run, 4);
      assert.match(
        run.stderr,
        /^error: NOT_FOUND REGION_NOT_FOUND( \(field region\))?: .*no-such-region.*\n$/,
      );
    });

    it("prints INVALID_ARGUMENT with its reason and field and exits 3", async () => {
      const run = await cli("region", "create", "Not_A-Name!");
      exits(run, 3);
      assert.match(run.stderr, /^error: INVALID_ARGUMENT NAME_INVALID \(field name\): .+\n$/);
    });

    it("refuses bad flags with exit code 2 before calling", async () => {
      const run = await cli("region", "create", "x", "--visibility", "sideways");
      exits(run, 2);
      assert.match(run.stderr, /--visibility "sideways" is not one of internal, external/);
      exits(await cli("region", "frobnicate"), 2);
      exits(await cli("-o", "xml", "region", "list"), 2);
    });
  });

  describe(`mulligan bootstrap offline [${kind}]`, () => {
    let store: FreshStore | undefined;
    let host: Host | undefined;
    const config = mkdtempSync(join(tmpdir(), "mulligan-cli-"));
    const dataDir = mkdtempSync(join(tmpdir(), "mulligan-offline-"));

    before(async () => {
      // SQLite through --data-dir (the store serve would open there); PostgreSQL through --database.
      store =
        kind === "sqlite"
          ? { url: `sqlite:${join(dataDir, "mulligan.db")}`, drop: async () => {} }
          : await freshStore(kind);
    });
    after(async () => {
      await host?.stop(1000);
      await store?.drop();
      rmSync(config, { recursive: true, force: true });
      rmSync(dataDir, { recursive: true, force: true });
    });

    it("bootstraps the store without a server; the server then accepts the secret", async () => {
      assert.ok(store);
      const where = kind === "sqlite" ? ["--data-dir", dataDir] : ["--database", store.url];
      const run = await mulligan(config, ["bootstrap", ...where, "-o", "json"]);
      exits(run, 0);
      const out = JSON.parse(run.stdout) as Record<string, string>;
      assert.equal(out.region, "default");
      const again = await mulligan(config, ["bootstrap", ...where]);
      exits(again, 7);
      assert.match(again.stderr, /^error: FAILED_PRECONDITION ALREADY_BOOTSTRAPPED: /);

      host = await startHost(store.url);
      const server = host.url.replace("http://", "");
      const login = await mulligan(
        config,
        [
          "--server",
          server,
          "login",
          "--account",
          out.account ?? "",
          "--project",
          out.project ?? "",
          "--secret-stdin",
        ],
        out.secret,
      );
      exits(login, 0);
      const regions = await mulligan(config, ["region", "list", "-o", "json"]);
      exits(regions, 0);
      assert.deepEqual(
        (JSON.parse(regions.stdout) as { name: string }[]).map((r) => r.name),
        ["default"],
      );
    });
  });
}

describe("mulligan CLI without a server", () => {
  it("names the address and how to start a server, and exits 9", async () => {
    const config = mkdtempSync(join(tmpdir(), "mulligan-cli-"));
    try {
      const port = await closedPort();
      const run = await mulligan(config, ["--server", `127.0.0.1:${port}`, "region", "list"]);
      exits(run, 9);
      assert.match(
        run.stderr,
        new RegExp(
          `^error: UNAVAILABLE SERVER_UNREACHABLE: cannot reach the Mulligan server at http://127\\.0\\.0\\.1:${port} `,
        ),
      );
      assert.match(run.stderr, /mulligan serve/);
    } finally {
      rmSync(config, { recursive: true, force: true });
    }
  });

  it("serve passes --executor-accel to the local executor's QEMU driver, and refuses a bad one", async () => {
    const config = mkdtempSync(join(tmpdir(), "mulligan-cli-"));
    try {
      const bad = await mulligan(config, ["serve", "--executor-accel", "warp"]);
      exits(bad, 2);
      assert.match(bad.stderr, /'--executor-accel <accel>' argument 'warp' is invalid/);
      assert.match(bad.stderr, /tcg, kvm, auto/);
      // TCG asked: the driver does not probe KVM, whatever this host has.
      const serve = spawn(
        process.execPath,
        [
          join(import.meta.dirname, "..", "bin", "mulligan.mjs"),
          "serve",
          "--listen",
          `127.0.0.1:${await closedPort()}`,
          "--data-dir",
          join(config, "data"),
          "--log-level",
          "info",
          "--local-executor",
          "--executor-accel",
          "tcg",
        ],
        { env: { PATH: process.env.PATH, HOME: config }, stdio: ["ignore", "pipe", "pipe"] },
      );
      let out = "";
      const ready = await new Promise<string | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), 60_000);
        serve.stdout.on("data", (d) => {
          out += d;
          const line = out.split("\n").find((l) => l.includes('"qemu driver ready"'));
          if (line) {
            clearTimeout(timer);
            resolve(line);
          }
        });
        serve.on("exit", () => resolve(undefined));
      });
      const gone = new Promise((r) => serve.once("exit", r));
      serve.kill("SIGTERM");
      await gone;
      assert.ok(ready, `no "qemu driver ready" line (is qemu-system-x86 installed?): ${out}`);
      assert.equal(JSON.parse(ready).accel, "tcg");
    } finally {
      rmSync(config, { recursive: true, force: true });
    }
  });

  it("documents the exit codes in its help", async () => {
    const config = mkdtempSync(join(tmpdir(), "mulligan-cli-"));
    try {
      const run = await mulligan(config, ["--help"]);
      exits(run, 0);
      assert.match(run.stdout, /Exit codes:/);
      assert.match(run.stdout, /4 {2}NOT_FOUND/);
    } finally {
      rmSync(config, { recursive: true, force: true });
    }
  });
});

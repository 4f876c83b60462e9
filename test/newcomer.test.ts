/**
 * The newcomer's path of docs/operations.md ("Your first five minutes", "Your first machine"),
 * run with the real executable and real QEMU (TCG): `mulligan serve --local-executor` (what
 * `npm start` runs) on a fresh data directory with the embedded SQLite store, then only CLI
 * commands as the docs give them — `bootstrap`, `image add-test-image`, `machine create
 * --watch`, `machine console`, `machine delete --wait`. The machine must go ACTIVE on this
 * machine's host with its progress on the screen, show the booted guest on its console, and
 * end DELETED with its claim released, no QEMU process and none of the guest's files left. The
 * server listens on a free port (the CLI finds it through MULLIGAN_SERVER) and the test image is
 * built into the cache the other VM tests use (add-test-image --dir). A machine without QEMU
 * fails the test with what to install.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { MachineService } from "../src/gen/mulligan/control/v1/control_pb.js";
import { ResourceService } from "../src/gen/mulligan/resource/v1/resource_pb.js";
import { exits, mulligan, type Run } from "./cli-helpers.js";
import { closedPort } from "./harness.js";
import { auditClaims, eventually, qemuProcesses, ServeProcess } from "./machine-helpers.js";
import { requireQemu } from "./test-image.js";

const ROOT = resolve(import.meta.dirname, "..");
/** The cache test/test-image.ts builds into: add-test-image reuses it when it is up to date. */
const IMAGE_DIR = join(ROOT, ".cache", "test-image");
/** The local executor registers this machine under its host name. */
const HOST = hostname();

/** Event lines (`HH:MM:SS  STATE  step  message`) in `text`, as [state, step, message]. */
function events(text: string): string[][] {
  return text
    .split("\n")
    .filter((l) => /^\d{2}:\d{2}:\d{2} {2}/.test(l))
    .map((l) => {
      const [, state = "", step = "", message = ""] = l.split(/ {2,}/);
      return [state, step, message];
    });
}

/** The key/value table in a successful run's stdout, as key → value ("\n" between lines). */
function pairs(run: Run): Map<string, string> {
  exits(run, 0);
  const out = new Map<string, string>();
  let last = "";
  for (const line of run.stdout.split("\n").filter((l) => l.startsWith("│"))) {
    const [key = "", value = ""] = line
      .split("│")
      .slice(1, -1)
      .map((c) => c.trim());
    if (key !== "") last = key;
    out.set(last, key === "" ? `${out.get(last)}\n${value}` : value);
  }
  return out;
}

describe("a newcomer provisions a VM end to end with the CLI (real QEMU) [sqlite]", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "mulligan-newcomer-data-"));
  const configDir = mkdtempSync(join(tmpdir(), "mulligan-newcomer-cli-"));
  let server: ServeProcess | undefined;
  let machineUuid = "";
  /** `mulligan ARGS` with the newcomer's login store, reaching the server through MULLIGAN_SERVER. */
  const cli = (...args: string[]) =>
    mulligan(configDir, args, undefined, { MULLIGAN_SERVER: server?.url ?? "" });
  /** A client of the server with the token `mulligan bootstrap` stored as the login. */
  const client = <T extends Parameters<typeof createClient>[0]>(service: T): Client<T> => {
    const { token } = JSON.parse(readFileSync(join(configDir, "credentials.json"), "utf8")) as {
      token: string;
    };
    const transport = createGrpcTransport({
      baseUrl: server?.url ?? "",
      interceptors: [
        (next) => (req) => {
          req.header.set("authorization", `Bearer ${token}`);
          return next(req);
        },
      ],
    });
    return createClient(service, transport) as Client<T>;
  };

  before(async () => {
    requireQemu();
    // `npm start` with a fresh data directory (embedded SQLite) on a free port.
    server = new ServeProcess(await closedPort(), ["--local-executor", "--data-dir", dataDir]);
    await server.start();
  });

  after(async () => {
    for (const pid of machineUuid ? qemuProcesses(machineUuid) : []) process.kill(pid, "SIGKILL");
    await server?.kill("SIGTERM");
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(configDir, { recursive: true, force: true });
  });

  test("bootstrap → add-test-image → create --watch ACTIVE → console → delete: nothing left", async (t) => {
    const started = Date.now();
    const boot = pairs(await cli("bootstrap"));
    assert.equal(boot.get("account"), "admin");
    assert.match(boot.get("secret") ?? "", /^mlg_/);

    const image = pairs(await cli("image", "add-test-image", "--dir", IMAGE_DIR));
    assert.equal(image.get("name"), "tiny");
    assert.equal(image.get("kind"), "kernel");
    assert.equal(image.get("kernel"), join(IMAGE_DIR, "vmlinuz"));
    assert.equal(image.get("boot marker"), "MULLIGAN_GUEST_READY");

    // The local executor registers this machine a few seconds after the bootstrap.
    await eventually(
      () => `the local executor never registered ${HOST} as a host`,
      60_000,
      async () => {
        const run = await cli("provider", "list", "-o", "json");
        exits(run, 0);
        const providers = JSON.parse(run.stdout) as { name: string }[];
        if (!providers.some((p) => p.name === HOST)) return undefined;
        // Its inventories follow the provider in a second call; until then nothing fits.
        const inventories = await cli("inventory", "show", HOST, "-o", "json");
        return inventories.stdout.includes("DISK_GB") || undefined;
      },
    );

    const create = await cli(
      "machine",
      "create",
      "web-1",
      "--image",
      "tiny",
      "--vcpus",
      "1",
      "--memory",
      "256",
      "--watch",
    );
    exits(create, 0);
    const seen = events(create.stdout);
    const steps = seen.map(([state, step]) => `${state} ${step}`);
    for (const want of [
      "PENDING accept",
      "SCHEDULING schedule",
      "PROVISIONING image",
      "PROVISIONING disk",
      "PROVISIONING config-drive",
      "PROVISIONING start",
      "PROVISIONING boot",
    ])
      assert.ok(steps.includes(want), `--watch showed no "${want}" event:\n${create.stdout}`);
    assert.deepEqual(seen.at(-1), ["ACTIVE", "boot", `running on ${HOST}`], create.stdout);
    assert.ok(
      seen.some(([, step, message]) => step === "boot" && message === "booted"),
      create.stdout,
    );
    const m = pairs(create);
    machineUuid = m.get("uuid") ?? "";
    assert.match(machineUuid, /^[0-9a-f-]{36}$/);
    assert.equal(m.get("state"), "ACTIVE");
    assert.equal(m.get("host"), HOST);
    assert.equal(m.get("attempts"), `#1 ${HOST}`);
    assert.equal(m.get("allocations"), `${HOST}: DISK_GB=1, MEMORY_MB=256, VCPU=1`);
    assert.equal(qemuProcesses(machineUuid).length, 1, "one QEMU process for the guest");
    const guestDir = join(dataDir, "executor", "guests", machineUuid);
    assert.ok(existsSync(guestDir), `the guest's files are in ${guestDir}`);
    t.diagnostic(`ACTIVE ${Date.now() - started} ms after the bootstrap`);

    const console = await cli("machine", "console", "web-1");
    exits(console, 0);
    // The serial console ends its lines with \r\n.
    assert.match(console.stdout, new RegExp(`mulligan-guest: instance-id=${machineUuid}\\r?\\n`));
    assert.match(console.stdout, /mulligan-guest: hostname=web-1\r?\n/);
    assert.match(console.stdout, /\nMULLIGAN_GUEST_READY\r?\n/);

    const resource = client(ResourceService);
    const machines = client(MachineService);
    const held = await resource.getAllocations({ consumer: machineUuid });
    assert.deepEqual(
      held.allocations.map((a) => a.providerName),
      [HOST],
    );

    const deleted = await cli("machine", "delete", "web-1", "--wait");
    exits(deleted, 0);
    const teardown = events(deleted.stdout).map(([state, step]) => `${state} ${step}`);
    assert.equal(teardown[0], "DECOMMISSIONING teardown", deleted.stdout);
    assert.equal(teardown.at(-1), "DELETED teardown", deleted.stdout);
    assert.match(deleted.stdout, /\ndeleted machine web-1\n$/);
    const all = await cli("machine", "list", "--all", "-o", "json");
    exits(all, 0);
    assert.deepEqual(
      (JSON.parse(all.stdout) as { name: string; state: string }[]).map((x) => [x.name, x.state]),
      [["web-1", "MACHINE_STATE_DELETED"]],
    );

    // Its allocation is released: the resource part knows no such consumer, or no allocation.
    const left = await resource
      .getAllocations({ consumer: machineUuid })
      .catch((e: unknown) => ConnectError.from(e));
    assert.ok(
      left instanceof ConnectError ? left.code === Code.NotFound : left.allocations.length === 0,
      "the claim was released",
    );
    await auditClaims(resource, machines, HOST);
    await eventually(
      () => "a QEMU process outlived the delete",
      30_000,
      () => (qemuProcesses(machineUuid).length === 0 ? true : undefined),
    );
    assert.equal(existsSync(guestDir), false, "the guest's files are gone");
    t.diagnostic(`done ${Date.now() - started} ms after the bootstrap`);
  });
});

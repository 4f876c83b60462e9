/**
 * The bare-metal CLI's success paths, through the real `mulligan` executable against one real
 * simulated node (a TCG QEMU guest behind ipmi_sim) and an in-process conductor, on PostgreSQL
 * (the other bare-metal suites run on SQLite): `node enroll` (password from a file), `node
 * inspect` → MANAGEABLE with the guest's inventory, `node maintenance … on` then `off`, `node
 * clean` → AVAILABLE, `image add`, `machine create --kind baremetal --flavor tiny --watch`
 * printing the deploy's events as they happen and ending ACTIVE on the node, `machine delete
 * --wait` → DELETED and the node AVAILABLE again, `node delete`. Each command's exit code and
 * what it prints are checked; the BMC password is printed by none. Needs what
 * baremetal-suite.ts needs; a missing tool or build fails the suite naming it.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import pino from "pino";
import { QemuDriver } from "../src/executor/drivers/qemu/qemu-driver.js";
import { Executor } from "../src/executor/executor.js";
import { AccountKind, IdentityService, Role } from "../src/gen/mulligan/iam/v1/iam_pb.js";
import { type SimNode, startSimNode } from "../src/sim/fleet.js";
import { AGENT_DIR, IMAGE_DIR, requireBareMetal } from "./baremetal-helpers.js";
import { exits, mulligan, type Run } from "./cli-helpers.js";
import {
  closedPort,
  type FreshStore,
  freshStore,
  startTestServer,
  type TestServer,
} from "./harness.js";

const PASSWORD = "cli-e2e-Bmc-Secret";
const BIN = join(import.meta.dirname, "..", "bin", "mulligan.mjs");
const logger = pino({ level: process.env.MULLIGAN_TEST_LOG ?? "silent" });

/** A key/value table's value for `key` (`│ key │ value │`), or undefined. */
function field(text: string, key: string): string | undefined {
  const row = text.split("\n").find((l) => l.startsWith(`│ ${key} `));
  return row?.split("│")[2]?.trim();
}

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

describe("mulligan node and machine commands on a real simulated node (ipmi_sim, QEMU) [postgres]", () => {
  let store: FreshStore | undefined;
  let server: TestServer | undefined;
  let executor: Executor | undefined;
  let driver: QemuDriver | undefined;
  let sim: SimNode | undefined;
  let work = "";
  /** Everything every command printed, to look for the password at the end. */
  const printed: string[] = [];

  const flags = () => [
    "--server",
    (server as TestServer).url,
    "--token",
    (server as TestServer).admin.token,
  ];
  /** Runs `mulligan ARGS` as the admin; keeps what it printed. */
  const cli = async (...args: string[]): Promise<Run> => {
    const run = await mulligan(join(work, "config"), [...flags(), ...args]);
    printed.push(run.stdout, run.stderr);
    return run;
  };
  /** The node's state as `node show -o json` prints it, polled every 2 s until `want`. */
  const untilNode = async (want: string, ms: number): Promise<Record<string, unknown>> => {
    const end = Date.now() + ms;
    for (;;) {
      const run = await cli("node", "show", "bm-1", "-o", "json");
      exits(run, 0);
      const n = JSON.parse(run.stdout) as Record<string, unknown>;
      if (n.state === `NODE_STATE_${want}`) return n;
      if (String(n.state).endsWith("_FAILED") || Date.now() > end)
        assert.fail(`node bm-1 is ${n.state}, not ${want}: ${JSON.stringify(n.lastError)}`);
      await new Promise((r) => setTimeout(r, 2000));
    }
  };

  before(async () => {
    await requireBareMetal();
    store = await freshStore("postgres");
    server = await startTestServer(store.url);
    await server.meta().createRegion({ name: "lab" });
    const iam = server.client(IdentityService);
    const created = await iam.createAccount({ name: "conductor", kind: AccountKind.EXECUTOR });
    await iam.grantRole({ account: "conductor", project: "", role: Role.EXECUTOR });
    work = mkdtempSync(join(tmpdir(), "mulligan-bm-cli-"));
    writeFileSync(join(work, "bmc.pw"), `${PASSWORD}\n`, { mode: 0o600 });
    const port = await closedPort();
    sim = await startSimNode({
      name: "bm-1",
      bmc: "ipmi",
      username: "admin",
      password: PASSWORD,
      bootUrl: `http://10.0.2.2:${port}/boot/ipxe?mac=\${net0/mac}`,
      diskGb: 1,
      memoryMb: 512,
      vcpus: 1,
      workDir: join(work, "nodes"),
    });
    driver = await QemuDriver.create({ stateDir: join(work, "guests"), accel: "tcg", logger });
    executor = await Executor.start({
      server: server.url,
      account: "conductor",
      secret: created.secret,
      hostName: "conductor-1",
      region: "lab",
      stateDir: join(work, "executor"),
      driver,
      logger,
      conductor: {
        group: "default",
        boot: { host: "127.0.0.1", port, advertiseHost: "10.0.2.2", agentDir: AGENT_DIR },
        serialLogDir: join(work, "nodes"),
        timeouts: { agentBootMs: 240_000, commandMs: 240_000, osBootMs: 180_000 },
      },
    });
  });

  after(async () => {
    await executor?.stop().catch(() => {});
    await driver?.close().catch(() => {});
    await sim?.stop().catch(() => {});
    await server?.stop();
    await store?.drop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("enroll, inspect, maintenance on and off, clean: the node ends AVAILABLE", async () => {
    const node = sim as SimNode;
    const e = node.bmcEndpoint;
    const enrolled = await cli(
      "node",
      "enroll",
      "bm-1",
      "--region",
      "lab",
      "--driver",
      "ipmi",
      "--address",
      e.address,
      "--port",
      String(e.port),
      "--username",
      e.username,
      "--password-file",
      join(work, "bmc.pw"),
      ...node.macs.flatMap((mac) => ["--mac", mac]),
      "--flavor",
      "tiny",
    );
    exits(enrolled, 0);
    assert.equal(field(enrolled.stdout, "state"), "VERIFYING");
    assert.equal(field(enrolled.stdout, "resource class"), "CUSTOM_BAREMETAL_TINY");
    await untilNode("MANAGEABLE", 120_000);

    const inspect = await cli("node", "inspect", "bm-1");
    exits(inspect, 0);
    assert.equal(field(inspect.stdout, "state"), "INSPECTING");
    assert.equal(field(inspect.stdout, "target state"), "MANAGEABLE");
    // Inspect ends with the node powered off: its target power while the step runs.
    assert.match(field(inspect.stdout, "power") ?? "", /^(on|off|) ?\(target off\)$/);
    await untilNode("MANAGEABLE", 400_000);
    const shown = await cli("node", "show", "bm-1");
    exits(shown, 0);
    assert.match(
      field(shown.stdout, "inventory") ?? "",
      /^1 CPUs, \d+ MiB, vda 1 GiB$/,
      "the guest's hardware, read by the deploy agent",
    );
    assert.equal(field(shown.stdout, "power"), "off");

    const on = await cli("node", "maintenance", "bm-1", "on", "--reason", "fan swap");
    exits(on, 0);
    assert.equal(field(on.stdout, "maintenance"), "yes (fan swap)");
    const off = await cli("node", "maintenance", "bm-1", "off");
    exits(off, 0);
    assert.equal(field(off.stdout, "maintenance"), "no");
    assert.equal(field(off.stdout, "state"), "MANAGEABLE");

    const clean = await cli("node", "clean", "bm-1");
    exits(clean, 0);
    assert.equal(field(clean.stdout, "state"), "CLEANING");
    assert.equal(field(clean.stdout, "target state"), "AVAILABLE");
    await untilNode("AVAILABLE", 400_000);
    const list = await cli("node", "list");
    exits(list, 0);
    assert.match(list.stdout, /│ bm-1 +│ AVAILABLE +│ off +│ +│ CUSTOM_BAREMETAL_TINY +│/);
  });

  test("machine create --kind baremetal --watch prints the deploy live and ends ACTIVE; delete --wait frees the node", async () => {
    const meta = JSON.parse(readFileSync(join(IMAGE_DIR, "image.json"), "utf8"));
    const image = await cli(
      "image",
      "add",
      "deploy-os",
      "--disk",
      join(IMAGE_DIR, "disk.raw"),
      "--format",
      "raw",
      "--boot-marker",
      meta.boot_marker,
    );
    exits(image, 0);

    // Spawned by hand to see when each line arrives: the events must come as they happen.
    const started = Date.now();
    const arrivals: { line: string; at: number }[] = [];
    const create = await new Promise<Run>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          BIN,
          ...flags(),
          "machine",
          "create",
          "metal-1",
          "--kind",
          "baremetal",
          "--flavor",
          "tiny",
          "--image",
          "deploy-os",
          "--watch",
        ],
        {
          env: { PATH: process.env.PATH, HOME: work, MULLIGAN_CONFIG_DIR: join(work, "config") },
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let stdout = "";
      let stderr = "";
      let partial = "";
      child.stdout.on("data", (d) => {
        stdout += d;
        const lines = (partial + d).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) arrivals.push({ line, at: Date.now() - started });
      });
      child.stderr.on("data", (d) => (stderr += d));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
    printed.push(create.stdout, create.stderr);
    exits(create, 0);
    const deploy = events(create.stdout);
    const steps = deploy.map(([, step]) => step);
    for (const step of ["schedule", "boot-agent", "write-image", "boot-disk", "os-boot"])
      assert.ok(steps.includes(step), `a ${step} event in ${JSON.stringify(steps)}`);
    assert.deepEqual(deploy.at(-1)?.slice(0, 2), ["ACTIVE", "boot"]);
    assert.ok(
      deploy.slice(0, -1).every(([state]) => state !== "ACTIVE"),
      "ACTIVE is the last event",
    );
    assert.match(create.stdout, /sha256 verified on vda/);
    assert.equal(field(create.stdout, "state"), "ACTIVE");
    assert.equal(field(create.stdout, "host"), "bm-1");
    const uuid = field(create.stdout, "uuid") ?? "";
    // Live: the agent's boot was printed while the deploy still had most of its way to go.
    const at = (re: RegExp) => arrivals.find((a) => re.test(a.line))?.at ?? Number.NaN;
    const booting = at(/ boot-agent +powered on/);
    const active = at(/ ACTIVE +boot /);
    assert.ok(
      active - booting > 5_000,
      `the agent's boot printed at ${booting} ms, ACTIVE at ${active} ms`,
    );

    const busy = await cli("node", "show", "bm-1");
    exits(busy, 0);
    assert.equal(field(busy.stdout, "state"), "ACTIVE");
    assert.equal(field(busy.stdout, "machine"), uuid);
    assert.equal(field(busy.stdout, "power"), "on");

    const deleted = await cli("machine", "delete", "metal-1", "--wait");
    exits(deleted, 0);
    const teardown = events(deleted.stdout);
    assert.ok(
      teardown.some(([, step, message]) => step === "erase" && /^erased vda/.test(message ?? "")),
      `the node's disk erased: ${JSON.stringify(teardown)}`,
    );
    assert.deepEqual(teardown.at(-1)?.slice(0, 1), ["DELETED"]);
    assert.match(deleted.stdout, /^deleted machine metal-1$/m);

    await untilNode("AVAILABLE", 30_000);
    const list = await cli("node", "list");
    exits(list, 0);
    assert.match(list.stdout, /│ bm-1 +│ AVAILABLE +│ off +│/);
    const freed = await cli("node", "show", "bm-1");
    assert.equal(field(freed.stdout, "machine"), "");
  });

  test("node delete removes the idle node; no command printed the BMC password", async () => {
    const deleted = await cli("node", "delete", "bm-1");
    exits(deleted, 0);
    assert.equal(deleted.stdout, "deleted node bm-1\n");
    const list = await cli("node", "list", "-o", "json");
    exits(list, 0);
    assert.ok(!list.stdout.includes("bm-1"), list.stdout);
    const gone = await cli("node", "show", "bm-1");
    exits(gone, 4);
    assert.match(gone.stderr, /NOT_FOUND/);
    assert.ok(printed.length > 20);
    assert.ok(!printed.join("").includes(PASSWORD), "the BMC password printed");
  });
});

/**
 * The power sync through the real Conductor, on both stores: tasks leased from a real server
 * (sync interval 300 ms), run against an in-process Redfish BMC (src/sim/redfish-emulator.ts).
 * A node powered on out of band is read ON by the next sync and control records it and says
 * so; a BMC that does not answer fails the sync with a BMC reason, counted on the node; the
 * sync never powers the node, and the conductor never logs the BMC password.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, test } from "node:test";
import pino from "pino";
import { forEachStore } from "../../test/harness.js";
import { ExecutorService, type Task, TaskKind } from "../gen/mulligan/control/v1/control_pb.js";
import {
  BmcDriver,
  NodeService,
  NodeState,
  PowerState as WirePower,
} from "../gen/mulligan/control/v1/node_pb.js";
import { ResourceService } from "../gen/mulligan/resource/v1/resource_pb.js";
import { redfishEmulator } from "../sim/redfish-emulator.js";
import type { BootOverride } from "../sim/sim-machine.js";
import { Conductor } from "./conductor.js";
import type { PowerState } from "./drivers/bmc-driver.js";
import { ImageCache } from "./image-cache.js";

const MAC = "52:54:00:aa:00:02";
const PASSWORD = "redfish-sync-pw";
const BMC_REASONS = ["BMC_UNREACHABLE", "BMC_TIMEOUT", "BMC_PROTOCOL_ERROR"];

/** Every line the conductor logs (debug and up). */
const logged: string[] = [];
const logger = pino(
  { level: "debug" },
  new Writable({
    write(chunk, _enc, done) {
      logged.push(String(chunk));
      done();
    },
  }),
);

/** The machine behind the BMC: only its power, and how often anything changed it. */
class FakeNode {
  power: PowerState = "off";
  override: BootOverride = { target: null, mode: "Disabled" };
  bmcDown = false;
  powerChanges = 0;
  async powerState() {
    return this.power;
  }
  async powerOn() {
    this.power = "on";
    this.powerChanges++;
  }
  async forceOff() {
    this.power = "off";
    this.powerChanges++;
  }
  async gracefulShutdown() {
    await this.forceOff();
  }
  async bootOverride() {
    return this.override;
  }
  async setBootOverride(o: BootOverride) {
    this.override = o;
  }
  async insertMedia() {}
  async ejectMedia() {}
}

const fake = new FakeNode();
let dir: string;
let bmc: http.Server;
let conductor: Conductor;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "mulligan-conductor-sync-"));
  const handler = redfishEmulator({
    system: { id: "bm", name: "bm", uuid: randomUUID(), vcpus: 2, memoryMb: 1024, macs: [MAC] },
    machine: fake,
    username: "admin",
    password: PASSWORD,
    mediaPath: join(dir, "unused.iso"),
  });
  bmc = http.createServer((req, res) => (fake.bmcDown ? req.socket.destroy() : handler(req, res)));
  await new Promise<void>((ok) => bmc.listen(0, "127.0.0.1", ok));
  conductor = await Conductor.start(
    { group: "default", bmcTimeoutMs: 1000, bmcRetries: 0 },
    dir,
    logger,
  );
});

after(async () => {
  await conductor.close();
  bmc.closeAllConnections();
  await new Promise((ok) => bmc.close(ok));
  await rm(dir, { recursive: true, force: true });
});

forEachStore(
  "conductor: power sync",
  (server) => {
    let token = "";
    const node = async () => (await server().client(NodeService).getNode({ node: "bm-y" })).node;
    const lease = async (kind: TaskKind): Promise<Task> => {
      const r = await server()
        .client(ExecutorService, token)
        .leaseTasks({ hosts: ["conductor-host"], conductorGroup: "default", waitSeconds: 5 });
      const t = r.tasks[0];
      assert.ok(t, `no task (wanted ${TaskKind[kind]})`);
      assert.equal(TaskKind[t.kind], TaskKind[kind]);
      return t;
    };
    const run = (t: Task) =>
      conductor.run(t, server().client(ExecutorService, token), new ImageCache(dir), logger);

    test("setup: the node enrolled and verified by the conductor, powered off", async () => {
      const s = server();
      await s.meta().createRegion({ name: "lab" });
      await s.client(ResourceService).createProvider({ name: "conductor-host", region: "lab" });
      token = await s.tokenFor({ role: "executor", project: null, kind: "executor" });
      fake.power = "off";
      await s.client(NodeService).enrollNode({
        name: "bm-y",
        region: "lab",
        bmc: {
          driver: BmcDriver.REDFISH,
          address: "127.0.0.1",
          port: (bmc.address() as AddressInfo).port,
          scheme: "http",
          username: "admin",
          password: PASSWORD,
        },
        bootMacs: [MAC],
        flavor: "small",
      });
      assert.equal(await run(await lease(TaskKind.VERIFY_NODE)), "done");
      const n = await node();
      assert.equal(n?.state, NodeState.MANAGEABLE);
      assert.equal(n?.powerState, WirePower.OFF);
    });

    test("powered on out of band: the next sync reads ON and control says so", async () => {
      fake.power = "on";
      const changes = fake.powerChanges;
      assert.equal(await run(await lease(TaskKind.SYNC_POWER)), "done");
      const n = await node();
      assert.equal(n?.powerState, WirePower.ON);
      assert.equal(n?.message, "power changed out of band: off → on");
      assert.equal(n?.state, NodeState.MANAGEABLE);
      assert.equal(fake.powerChanges, changes, "the sync changed the node's power");
      assert.equal(fake.power, "on");
    });

    test("a BMC that does not answer fails the sync with its reason, counted on the node", async () => {
      fake.bmcDown = true;
      try {
        assert.equal(await run(await lease(TaskKind.SYNC_POWER)), "failed");
      } finally {
        fake.bmcDown = false;
      }
      const n = await node();
      const reason = /\((BMC_[A-Z_]+)\)$/.exec(n?.message ?? "")?.[1] ?? "";
      assert.match(n?.message ?? "", /^power sync failed \(1 of 3\): /);
      assert.ok(BMC_REASONS.includes(reason), n?.message);
      assert.equal(n?.maintenance, false);
      assert.equal(n?.powerState, WirePower.ON, "the last power read is kept");
      assert.equal(n?.state, NodeState.MANAGEABLE);
    });

    test("the conductor never logged the BMC password", () => {
      assert.ok(logged.length > 0, "nothing was logged");
      for (const line of logged) assert.ok(!line.includes(PASSWORD), line);
    });
  },
  {
    configure: (config) => {
      config.control = { powerSyncIntervalMs: 300 };
    },
  },
);

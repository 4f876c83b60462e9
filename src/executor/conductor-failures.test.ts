/**
 * The conductor's failure paths end to end, on both stores: the real Conductor runs node tasks
 * leased from a real server (its reports go through ExecutorService), against an in-process
 * Redfish BMC (src/sim/redfish-emulator.ts) whose "node" runs a scripted deploy agent that
 * talks to the conductor's boot server. A BMC that stops answering or an agent that fails its
 * command ends inspect in INSPECT_FAILED and clean or undeploy in CLEAN_FAILED with the step
 * and reason; a task delivered again after a conductor restart fails CONDUCTOR_RESTARTED with
 * the node powered off; and a decommission retried after a failed undeploy cleans the node.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import pino from "pino";
import { assertNothingHeld, forEachStore } from "../../test/harness.js";
import {
  ExecutorService,
  ImageService,
  MachineKind,
  MachineService,
  MachineState,
  type Task,
  TaskKind,
} from "../gen/mulligan/control/v1/control_pb.js";
import { BmcDriver, NodeService, NodeState } from "../gen/mulligan/control/v1/node_pb.js";
import { ResourceService } from "../gen/mulligan/resource/v1/resource_pb.js";
import { redfishEmulator } from "../sim/redfish-emulator.js";
import type { BootOverride } from "../sim/sim-machine.js";
import { Conductor } from "./conductor.js";
import type { BootDevice, PowerState } from "./drivers/bmc-driver.js";
import { ImageCache } from "./image-cache.js";

const logger = pino({ level: "silent" });
const MAC = "52:54:00:aa:00:01";
const PASSWORD = "redfish-pw";
const LEASE_MS = 2000;
/** What the fake node's deploy agent does once the node netboots. */
type AgentPlay = "ok" | "silent" | "inspect-fails" | "erase-fails";
const BMC_REASONS = ["BMC_UNREACHABLE", "BMC_TIMEOUT", "BMC_PROTOCOL_ERROR"];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The simulated node behind the Redfish emulator: its power, boot override and agent. */
class FakeNode {
  power: PowerState = "off";
  override: BootOverride = { target: null, mode: "Disabled" };
  agent: AgentPlay = "ok";
  /** The BMC drops every connection. */
  bmcDown = false;
  /** Power-ons so far; an agent stops when the node is powered off or on again. */
  boots = 0;
  /** Set once the conductor runs: where the fake agent fetches its boot script. */
  bootUrl = "";

  async powerState() {
    return this.power;
  }
  async powerOn() {
    this.power = "on";
    const boots = ++this.boots;
    const device: BootDevice | null = this.override.target;
    if (this.override.mode === "Once") this.override = { target: null, mode: "Disabled" };
    if (device === "pxe" && this.agent !== "silent")
      void this.runAgent(boots).catch(() => undefined);
  }
  async forceOff() {
    this.power = "off";
    this.boots++;
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

  /** The deploy agent: reads its token from the iPXE script, then obeys the commands. */
  private async runAgent(boots: number) {
    const script = await (await fetch(`${this.bootUrl}/boot/ipxe?mac=${MAC}`)).text();
    const arg = (k: string) => new RegExp(`mulligan\\.${k}=(\\S+)`).exec(script)?.[1] ?? "";
    const [callback, node, token] = [arg("callback"), arg("node"), arg("token")];
    const alive = () => this.power === "on" && this.boots === boots;
    const post = async (event: string, body: object): Promise<Record<string, unknown>> => {
      const r = await fetch(`${callback}/${node}/${event}`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      if (!r.ok) throw new Error(`agent callback ${event}: ${r.status}`);
      return (await r.json()) as Record<string, unknown>;
    };
    let cmd = await post("hello", { version: "fake" });
    while (alive()) {
      const id = cmd.id;
      if (cmd.command === "inspect")
        cmd =
          this.agent === "inspect-fails"
            ? await post("failed", {
                id,
                step: "inspect",
                reason: "AGENT_FAILED",
                message: "reading the hardware failed",
              })
            : await post("inventory", {
                id,
                cpus: 2,
                memory_mb: 1024,
                arch: "x86_64",
                disks: [{ name: "vda", size_bytes: 4 * 2 ** 30 }],
                nics: [{ name: "eth0", mac: MAC }],
              });
      else if (cmd.command === "erase")
        cmd =
          this.agent === "erase-fails"
            ? await post("failed", {
                id,
                step: "erase",
                reason: "ERASE_FAILED",
                message: "vda does not read back as zeros",
              })
            : await post("done", { id, command: "erase", disks: cmd.disks, seconds: 1 });
      else if (cmd.command === "poweroff") {
        await post("done", { id, command: "poweroff" });
        await this.forceOff();
      } else cmd = await post("poll", {});
    }
  }
}

const fake = new FakeNode();
let dir: string;
let bmc: http.Server;
let conductor: Conductor;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "mulligan-conductor-failures-"));
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
    {
      group: "default",
      timeouts: { agentBootMs: 1500, commandMs: 3000, osBootMs: 1000 },
      bmcTimeoutMs: 1000,
      bmcRetries: 0,
    },
    dir,
    logger,
  );
  fake.bootUrl = conductor.boot.localUrl;
});

after(async () => {
  await conductor.close();
  bmc.closeAllConnections();
  await new Promise((ok) => bmc.close(ok));
  await rm(dir, { recursive: true, force: true });
});

forEachStore(
  "conductor failures: inspect, clean and undeploy end in their failure state",
  (server) => {
    let token = "";
    const nodes = () => server().client(NodeService);
    const node = async () => (await nodes().getNode({ node: "bm-f" })).node;
    const machines = () => server().client(MachineService);
    const lease = async (kind: TaskKind): Promise<Task> => {
      const r = await server()
        .client(ExecutorService, token)
        .leaseTasks({ hosts: ["conductor-host"], conductorGroup: "default", waitSeconds: 5 });
      const t = r.tasks[0];
      assert.ok(t, `no task (wanted ${TaskKind[kind]})`);
      assert.equal(TaskKind[t.kind], TaskKind[kind]);
      return t;
    };
    /** Runs a task through the real conductor, reporting to the server. */
    const run = (t: Task) =>
      conductor.run(t, server().client(ExecutorService, token), new ImageCache(dir), logger);
    /** Leases the next task, lets the lease lapse unreported (a conductor died), runs it again. */
    const runRedelivered = async (kind: TaskKind) => {
      const first = await lease(kind);
      assert.equal(first.deliveries, 1);
      await sleep(LEASE_MS + 500);
      const again = await lease(kind);
      assert.equal(again.uuid, first.uuid);
      assert.equal(again.deliveries, 2);
      fake.power = "on"; // left running by the conductor that died
      return run(again);
    };
    /** Asserts the node's failure state and last error. */
    const failedWith = async (state: NodeState, step: string, reasons: string[]) => {
      const n = await node();
      assert.equal(NodeState[n?.state ?? 0], NodeState[state]);
      assert.equal(n?.failedState, state);
      assert.equal(n?.lastError?.step, step, n?.lastError?.message);
      assert.ok(
        reasons.includes(n?.lastError?.reason ?? ""),
        `reason ${n?.lastError?.reason}: ${n?.lastError?.message}`,
      );
      return n;
    };
    const step = async (
      start: () => Promise<unknown>,
      kind: TaskKind,
      play: AgentPlay,
      bmcDown = false,
    ) => {
      fake.agent = play;
      fake.bmcDown = bmcDown;
      try {
        await start();
        return await run(await lease(kind));
      } finally {
        fake.bmcDown = false;
      }
    };
    const inspect = () => nodes().inspectNode({ node: "bm-f" });
    const clean = () => nodes().cleanNode({ node: "bm-f" });

    test("setup: a conductor account, an image; the node enrolled and verified by the conductor", async () => {
      const s = server();
      await s.meta().createRegion({ name: "lab" });
      await s.client(ResourceService).createProvider({ name: "conductor-host", region: "lab" });
      await s.client(ImageService).registerImage({
        name: "os",
        source: {
          case: "disk",
          value: { source: "/srv/os.raw", format: 2, sha256: "c".repeat(64) },
        },
      });
      token = await s.tokenFor({ role: "executor", project: null, kind: "executor" });
      await nodes().enrollNode({
        name: "bm-f",
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
      assert.equal((await node())?.state, NodeState.MANAGEABLE);
    });

    test("inspect: a BMC that stops answering → INSPECT_FAILED with the BMC's reason", async () => {
      assert.equal(await step(inspect, TaskKind.INSPECT_NODE, "ok", true), "failed");
      await failedWith(NodeState.INSPECT_FAILED, "inspect", BMC_REASONS);
    });

    test("inspect: the agent fails the command → INSPECT_FAILED AGENT_FAILED, node off", async () => {
      assert.equal(await step(inspect, TaskKind.INSPECT_NODE, "inspect-fails"), "failed");
      await failedWith(NodeState.INSPECT_FAILED, "inspect", ["AGENT_FAILED"]);
      assert.equal(fake.power, "off");
    });

    test("inspect delivered again after a conductor restart → INSPECT_FAILED CONDUCTOR_RESTARTED, node off", async () => {
      fake.agent = "ok";
      await inspect();
      assert.equal(await runRedelivered(TaskKind.INSPECT_NODE), "failed");
      const n = await failedWith(NodeState.INSPECT_FAILED, "inspect", ["CONDUCTOR_RESTARTED"]);
      assert.match(n?.lastError?.message ?? "", /restarted during inspect/);
      assert.equal(fake.power, "off", "the node was powered off");
    });

    test("inspect that works: MANAGEABLE with the agent's hardware", async () => {
      assert.equal(await step(inspect, TaskKind.INSPECT_NODE, "ok"), "done");
      const n = await node();
      assert.equal(n?.state, NodeState.MANAGEABLE);
      assert.equal(n?.inventory?.disks[0]?.name, "vda");
    });

    test("clean: the agent fails the erase → CLEAN_FAILED ERASE_FAILED", async () => {
      assert.equal(await step(clean, TaskKind.CLEAN_NODE, "erase-fails"), "failed");
      await failedWith(NodeState.CLEAN_FAILED, "erase", ["ERASE_FAILED"]);
      assert.equal(fake.power, "off");
    });

    test("clean: the agent never reports in → CLEAN_FAILED AGENT_TIMEOUT", async () => {
      assert.equal(await step(clean, TaskKind.CLEAN_NODE, "silent"), "failed");
      await failedWith(NodeState.CLEAN_FAILED, "hello", ["AGENT_TIMEOUT"]);
    });

    test("clean: a BMC that stops answering → CLEAN_FAILED with the BMC's reason", async () => {
      assert.equal(await step(clean, TaskKind.CLEAN_NODE, "ok", true), "failed");
      await failedWith(NodeState.CLEAN_FAILED, "clean", BMC_REASONS);
    });

    test("clean delivered again after a conductor restart → CLEAN_FAILED CONDUCTOR_RESTARTED, node off", async () => {
      fake.agent = "ok";
      await clean();
      assert.equal(await runRedelivered(TaskKind.CLEAN_NODE), "failed");
      await failedWith(NodeState.CLEAN_FAILED, "clean", ["CONDUCTOR_RESTARTED"]);
      assert.equal(fake.power, "off");
    });

    test("undeploy: failures leave CLEAN_FAILED and the machine ERROR; decommission again cleans the node", async () => {
      const s = server();
      assert.equal(await step(clean, TaskKind.CLEAN_NODE, "ok"), "done");
      assert.equal((await node())?.state, NodeState.AVAILABLE);
      const m = (
        await machines().provision({
          spec: {
            name: "metal-f",
            image: "os",
            kind: MachineKind.BAREMETAL,
            groups: [{ resources: { CUSTOM_BAREMETAL_SMALL: 1n } }],
          },
        })
      ).machine;
      assert.ok(m);
      // The deploy is played by hand (the agent writes no images here).
      const d = await lease(TaskKind.DEPLOY_NODE);
      await server()
        .client(ExecutorService, token)
        .reportTask({
          taskUuid: d.uuid,
          leaseToken: d.leaseToken,
          result: { case: "done", value: true },
        });
      assert.equal((await node())?.state, NodeState.ACTIVE);
      const machine = async () => (await machines().getMachine({ machine: m.uuid })).machine;

      // The agent fails the erase.
      assert.equal(
        await step(
          () => machines().decommission({ machine: m.uuid }),
          TaskKind.UNDEPLOY_NODE,
          "erase-fails",
        ),
        "failed",
      );
      await failedWith(NodeState.CLEAN_FAILED, "erase", ["ERASE_FAILED"]);
      let failed = await machine();
      assert.equal(MachineState[failed?.state ?? 0], "ERROR");
      assert.equal(failed?.reason, "ERASE_FAILED");
      assert.match(failed?.message ?? "", /teardown failed/);
      assert.equal((await node())?.machineUuid, m.uuid, "the node still holds the machine");

      // The BMC stops answering: the undeploy fails at its first power-off.
      assert.equal(
        await step(
          () => machines().decommission({ machine: m.uuid }),
          TaskKind.UNDEPLOY_NODE,
          "ok",
          true,
        ),
        "failed",
      );
      await failedWith(NodeState.CLEAN_FAILED, "undeploy", BMC_REASONS);
      assert.equal((await machine())?.state, MachineState.ERROR);

      // Delivered again after a conductor restart.
      fake.agent = "ok";
      await machines().decommission({ machine: m.uuid });
      assert.equal(await runRedelivered(TaskKind.UNDEPLOY_NODE), "failed");
      await failedWith(NodeState.CLEAN_FAILED, "undeploy", ["CONDUCTOR_RESTARTED"]);
      assert.equal(fake.power, "off");
      failed = await machine();
      assert.equal(failed?.state, MachineState.ERROR);
      assert.equal(failed?.reason, "CONDUCTOR_RESTARTED");

      // Decommission once more with everything working: the node is clean, the machine gone.
      assert.equal(
        await step(
          () => machines().decommission({ machine: m.uuid }),
          TaskKind.UNDEPLOY_NODE,
          "ok",
        ),
        "done",
      );
      const n = await node();
      assert.equal(n?.state, NodeState.AVAILABLE);
      assert.equal(n?.machineUuid, "");
      assert.equal((await machine())?.state, MachineState.DELETED);
      await assertNothingHeld(s, m.uuid);
    });
  },
  {
    configure: (config) => {
      config.control = { leaseMs: LEASE_MS };
    },
  },
);

/**
 * Bare metal end to end, every part real: a simulated node (a TCG QEMU guest netbooting through
 * QEMU's iPXE ROM) behind ipmi_sim or the Redfish emulator, the executor acting as its conductor (createBmcDriver →
 * ipmitool lanplus or Redfish over HTTP, the boot server, the busybox deploy agent), and the control plane over gRPC:
 * enroll → verify → inspect (the inventory is the guest's) → clean → AVAILABLE → Provision
 * BAREMETAL → the image is written and verified on the node's disk, the node boots it from disk
 * → ACTIVE → Decommission → cleaned → AVAILABLE, nothing held. A wrong BMC password ends
 * VERIFY_FAILED with AUTH_FAILED. Over the whole flow, neither BMC password nor any agent token
 * issued (read from the per-MAC iPXE script, as the node reads it) appears in a line the server
 * or the conductor logs (debug level), in any process's argv (sampled from /proc), or in an
 * answer the caller got (every response of the test's clients, streams included, as JSON); the
 * two places that carry them by design, LeaseTasks to the owning conductor and the iPXE script,
 * are not the caller's (docs/baremetal.md, "Secrets"). Needs the agent and the test OS
 * (scripts/build-deploy-agent.sh, scripts/build-deploy-image.sh) and Debian's qemu-system-x86,
 * ipxe-qemu, openipmi, ipmitool.
 * One suite per BMC protocol (baremetal-e2e.test.ts, baremetal-redfish-e2e.test.ts).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { toJsonString } from "@bufbuild/protobuf";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pino from "pino";
import { QemuDriver } from "../src/executor/drivers/qemu/qemu-driver.js";
import { Executor } from "../src/executor/executor.js";
import {
  MachineKind,
  MachineService,
  MachineState,
} from "../src/gen/mulligan/control/v1/control_pb.js";
import { BmcDriver, NodeService, NodeState } from "../src/gen/mulligan/control/v1/node_pb.js";
import { AccountKind, IdentityService, Role } from "../src/gen/mulligan/iam/v1/iam_pb.js";
import { type SimNode, startSimNode } from "../src/sim/fleet.js";
import {
  AGENT_DIR,
  registerDeployImage,
  requireBareMetal,
  untilNode as untilNodeOf,
} from "./baremetal-helpers.js";
import { sampleArgv } from "./bmc-helpers.js";
import {
  assertNothingHeld,
  capturingLogger,
  closedPort,
  type FreshStore,
  freshStore,
  startTestServer,
  type TestServer,
} from "./harness.js";

const PASSWORD = "e2e-Bmc-Secret";
const WRONG_PASSWORD = "not-the-password";
const logger = pino({ level: process.env.MULLIGAN_TEST_LOG ?? "silent" });

/**
 * Keeps every answer the client gets, unary or streamed, as "Method {json}" — what a caller
 * could print or store.
 */
function recordingAnswers(answers: string[]): Interceptor {
  const keep = (method: string, schema: Parameters<typeof toJsonString>[0], message: unknown) =>
    answers.push(`${method} ${toJsonString(schema, message as never)}`);
  return (next) => async (req) => {
    const res = await next(req);
    const { name, output } = req.method;
    if (!res.stream) {
      keep(name, output, res.message);
      return res;
    }
    const messages = res.message;
    return {
      ...res,
      message: (async function* () {
        for await (const m of messages) {
          keep(name, output, m);
          yield m;
        }
      })(),
    };
  };
}

/**
 * The agent tokens the boot server hands out while it runs: the per-MAC iPXE script of each of
 * `macs`, fetched every 200 ms like the node's firmware fetches it (unauthenticated by design;
 * an agent boot keeps its script for many seconds, so none is missed). `stop()` returns them.
 */
function collectAgentTokens(bootUrl: string, macs: string[]): { stop(): Promise<Set<string>> } {
  const tokens = new Set<string>();
  let done = false;
  const poller = (async () => {
    while (!done) {
      for (const mac of macs) {
        const script = await fetch(`${bootUrl}/boot/ipxe?mac=${mac}`)
          .then((r) => r.text())
          .catch(() => "");
        const token = /mulligan\.token=(\S+)/.exec(script)?.[1];
        if (token) tokens.add(token);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return {
    async stop() {
      done = true;
      await poller;
      return tokens;
    },
  };
}

/** The whole flow against one simulated node behind a `bmc` BMC. */
export function bareMetalSuite(bmcKind: "ipmi" | "redfish"): void {
  describe(`bare metal end to end (${bmcKind} BMC, iPXE, deploy agent, real QEMU) [sqlite]`, () => {
    let store: FreshStore | undefined;
    let server: TestServer | undefined;
    let executor: Executor | undefined;
    let driver: QemuDriver | undefined;
    let sim: SimNode | undefined;
    const dirs: string[] = [];
    /** What the server and the conductor log, at debug level, for the whole flow. */
    const serverLog = capturingLogger();
    const conductorLog = capturingLogger();
    /** Every answer the test's clients got (GetNode, ListNodes, GetMachine, WatchMachine…). */
    const answers: string[] = [];
    let argv: ReturnType<typeof sampleArgv> | undefined;
    let tokens: ReturnType<typeof collectAgentTokens> | undefined;
    /** The server as the test calls it: the admin's clients, every answer recorded. */
    let caller: TestServer | undefined;

    const nodes = () => (caller as TestServer).client(NodeService);
    /** The enrollment's BMC part for the simulated node, with `password`. */
    const bmcOf = (password: string) => {
      const e = (sim as SimNode).bmcEndpoint;
      return {
        driver: e.driver === "redfish" ? BmcDriver.REDFISH : BmcDriver.IPMI,
        address: e.address,
        port: e.port,
        username: e.username,
        password,
        scheme: e.scheme ?? "",
        skipTlsVerify: e.verifyTls === false,
      };
    };
    /** Polls GetNode until `want`, then lists the nodes too (both answers are recorded). */
    const untilNode = async (ref: string, want: NodeState, ms: number) => {
      const n = await untilNodeOf(caller as TestServer, ref, want, ms);
      await nodes().listNodes({});
      return n;
    };

    before(async () => {
      await requireBareMetal();
      store = await freshStore("sqlite");
      argv = sampleArgv(25);
      await argv.ready;
      server = await startTestServer(store.url, undefined, { logger: serverLog.logger });
      const s = server;
      const recorded = createGrpcTransport({
        baseUrl: s.url,
        interceptors: [
          (next) => (req) => {
            req.header.set("authorization", `Bearer ${s.admin.token}`);
            return next(req);
          },
          recordingAnswers(answers),
        ],
      });
      caller = {
        ...s,
        client: (service, token) =>
          token === undefined ? createClient(service, recorded) : s.client(service, token),
      };
      await s.meta().createRegion({ name: "lab" });
      const iam = s.client(IdentityService);
      const created = await iam.createAccount({ name: "conductor", kind: AccountKind.EXECUTOR });
      await iam.grantRole({ account: "conductor", project: "", role: Role.EXECUTOR });
      const work = mkdtempSync(join(tmpdir(), "mulligan-bm-e2e-"));
      dirs.push(work);
      const port = await closedPort();
      sim = await startSimNode({
        name: "bm-1",
        bmc: bmcKind,
        username: "admin",
        password: PASSWORD,
        bootUrl: `http://10.0.2.2:${port}/boot/ipxe?mac=\${net0/mac}`,
        diskGb: 1,
        memoryMb: 512,
        vcpus: 1,
        workDir: join(work, "nodes"),
      });
      tokens = collectAgentTokens(`http://127.0.0.1:${port}`, sim.macs);
      driver = await QemuDriver.create({
        stateDir: join(work, "guests"),
        accel: "tcg",
        logger: conductorLog.logger,
      });
      executor = await Executor.start({
        server: s.url,
        account: "conductor",
        secret: created.secret,
        hostName: "conductor-1",
        region: "lab",
        stateDir: join(work, "executor"),
        driver,
        logger: conductorLog.logger,
        conductor: {
          group: "default",
          boot: { host: "127.0.0.1", port, advertiseHost: "10.0.2.2", agentDir: AGENT_DIR },
          serialLogDir: join(work, "nodes"),
          timeouts: { agentBootMs: 240_000, commandMs: 240_000, osBootMs: 180_000 },
        },
      });
    });

    after(async () => {
      await argv?.stop();
      await tokens?.stop();
      await executor?.stop().catch(() => {});
      await driver?.close().catch(() => {});
      await sim?.stop().catch(() => {});
      await server?.stop();
      await store?.drop();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });

    test("a wrong BMC password ends VERIFY_FAILED with AUTH_FAILED", async () => {
      await nodes().enrollNode({
        name: "bm-wrong",
        region: "lab",
        bmc: bmcOf(WRONG_PASSWORD),
        bootMacs: ["52:54:00:aa:bb:cc"],
      });
      const n = await untilNode("bm-wrong", NodeState.VERIFY_FAILED, 120_000).catch(
        async () => (await nodes().getNode({ node: "bm-wrong" })).node,
      );
      assert.equal(n?.state, NodeState.VERIFY_FAILED);
      assert.equal(n?.lastError?.reason, "AUTH_FAILED", n?.lastError?.message);
      assert.ok(!JSON.stringify(n?.lastError).includes(WRONG_PASSWORD));
      await nodes().deleteNode({ node: "bm-wrong" });
    });

    test("enroll → verify → inspect → clean → AVAILABLE → deploy → ACTIVE → decommission → AVAILABLE", async () => {
      const s = caller as TestServer;
      const node = sim as SimNode;
      const started = Date.now();
      const lap = (what: string) => logger.info({ s: (Date.now() - started) / 1000 }, what);
      await nodes().enrollNode({
        name: "bm-1",
        region: "lab",
        bmc: bmcOf(PASSWORD),
        bootMacs: node.macs,
        flavor: "tiny",
      });
      await untilNode("bm-1", NodeState.MANAGEABLE, 120_000);
      lap("verified");

      await nodes().inspectNode({ node: "bm-1" });
      const inspected = await untilNode("bm-1", NodeState.MANAGEABLE, 400_000);
      lap("inspected");
      const inv = inspected.inventory;
      assert.equal(inv?.cpus, 1, "the guest's CPUs");
      const mem = Number(inv?.memoryMb ?? 0);
      assert.ok(mem > 256 && mem <= 512, `the guest's memory (512 MiB less the kernel's): ${mem}`);
      assert.ok(
        inv?.disks.some((d) => d.sizeBytes === 1n << 30n),
        `a 1 GiB disk in ${JSON.stringify(inv?.disks.map((d) => [d.name, Number(d.sizeBytes)]))}`,
      );
      assert.ok(
        inv?.nics.some((n) => node.macs.includes(n.mac)),
        "the boot NIC",
      );
      // The guest's x86-64 CPU (QEMU's default model has SSE2), as standard capabilities.
      for (const c of ["COMPUTE_ARCH_X86_64", "HW_CPU_X86_SSE2"])
        assert.ok(inv?.capabilities.includes(c), `${c} in ${inv?.capabilities.join(" ")}`);

      await nodes().cleanNode({ node: "bm-1" });
      await untilNode("bm-1", NodeState.AVAILABLE, 400_000);
      lap("cleaned");

      await registerDeployImage(s, "deploy-os");
      const machines = s.client(MachineService);
      const m = (
        await machines.provision({
          spec: {
            name: "metal-1",
            image: "deploy-os",
            kind: MachineKind.BAREMETAL,
            groups: [{ resources: { CUSTOM_BAREMETAL_TINY: 1n } }],
          },
        })
      ).machine;
      assert.ok(m);
      // The machine's events as a watcher sees them, from provisioning to DELETED.
      const watched: MachineState[] = [];
      const watching = (async () => {
        for await (const r of machines.watchMachine({ machine: m.uuid })) {
          watched.push(r.machine?.state ?? MachineState.UNSPECIFIED);
          if (r.machine?.state === MachineState.DELETED) return;
        }
      })();
      const end = Date.now() + 600_000;
      let got = m;
      while (got.state !== MachineState.ACTIVE) {
        if (got.state === MachineState.ERROR || Date.now() > end)
          assert.fail(`machine ${MachineState[got.state]}: ${got.reason} ${got.message}`);
        await new Promise((r) => setTimeout(r, 1000));
        got = (await machines.getMachine({ machine: m.uuid })).machine ?? got;
      }
      lap("deployed");
      assert.equal(got.hostName, "bm-1");
      const active = (await nodes().getNode({ node: "bm-1" })).node;
      assert.equal(active?.state, NodeState.ACTIVE);
      assert.equal(active?.machineUuid, m.uuid);
      const serial = readFileSync(node.serialLogPath, "utf8");
      assert.match(serial, /mulligan-deployed-os booted/, "the OS booted from the node's disk");

      await machines.decommission({ machine: m.uuid });
      const back = await untilNode("bm-1", NodeState.AVAILABLE, 400_000);
      lap("decommissioned");
      assert.equal(back.machineUuid, "");
      assert.equal(
        (await machines.getMachine({ machine: m.uuid })).machine?.state,
        MachineState.DELETED,
      );
      await assertNothingHeld(s, m.uuid);
      await watching;
      assert.ok(
        watched.includes(MachineState.ACTIVE),
        `watched ${watched.map((w) => MachineState[w])}`,
      );
      await machines.listMachines({});
    });

    test("no BMC password or agent token in a log line, a process's argv or an answer", async () => {
      const issued = [...(await (tokens as ReturnType<typeof collectAgentTokens>).stop())];
      // One agent boot each: inspect, clean, deploy, and the clean of the decommission.
      assert.equal(issued.length, 4, "an agent token per agent boot");
      const { argvs, samples } = await (argv as ReturnType<typeof sampleArgv>).stop();
      const lines = [...serverLog.lines, ...conductorLog.lines];
      // The captures saw the flow: the conductor's debug lines of the agent's callbacks, the
      // server's requests, the node's QEMU guest among the processes, and the answers.
      assert.ok(
        conductorLog.lines.some((l) => l.includes("agent callback")),
        "the conductor's log is captured at debug level",
      );
      assert.ok(serverLog.lines.length > 0, "the server's log is captured");
      assert.ok(samples > 10, `argv sampled ${samples} times`);
      assert.ok(
        [...argvs].some((a) => a.includes("qemu-system-x86_64") && a.includes("bm-1")),
        "the node's guest among the sampled processes",
      );
      if (bmcKind === "ipmi")
        assert.ok(
          [...argvs].some((a) => a.startsWith("ipmitool ")),
          "the conductor's ipmitool runs among the sampled processes",
        );
      for (const m of ["GetNode", "ListNodes", "GetMachine", "WatchMachine", "ListMachines"])
        assert.ok(
          answers.some((a) => a.startsWith(`${m} `)),
          `a ${m} answer recorded`,
        );
      for (const [what, secret] of [
        ["the BMC password", PASSWORD],
        ["the wrong BMC password", WRONG_PASSWORD],
        ...issued.map((t, i) => [`agent token ${i + 1}`, t]),
      ] as const) {
        const where = [
          ...lines.filter((l) => l.includes(secret)).map((l) => `log: ${l}`),
          ...[...argvs].filter((a) => a.includes(secret)).map((a) => `argv: ${a}`),
          ...answers.filter((a) => a.includes(secret)).map((a) => `answer: ${a}`),
        ];
        assert.deepEqual(where, [], `${what} leaked`);
      }
    });
  });
}

/**
 * The redfish driver against the in-repo Redfish emulator (src/sim), which drives a real QEMU
 * guest (TCG) through QMP; and the emulator's own faithfulness to the Redfish protocol (status
 * codes, error bodies, sessions). What the guest does is the proof of the boot device: after
 * Pxe its iPXE ROM fetches the test's boot URL, after Hdd it finds the blank disk. One guest runs
 * at a time.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { BmcError } from "../src/executor/drivers/bmc-driver.js";
import { createBmcDriver } from "../src/executor/drivers/bmc-factory.js";
import { QmpClient } from "../src/executor/drivers/qemu/qmp-client.js";
import { RedfishDriver } from "../src/executor/drivers/redfish/redfish-driver.js";
import { type SimNode, startSimNode } from "../src/sim/fleet.js";
import { redfishEmulator } from "../src/sim/redfish-emulator.js";
import { SimMachine } from "../src/sim/sim-machine.js";
import { simFiles } from "../src/sim/sim-qemu.js";
import { qmpStatus, requireTools, startBootServer, waitFor, watchArgv } from "./bmc-helpers.js";
import { capturingLogger } from "./harness.js";

const PASSWORD = "Redfish-T3st-Secret";
const FAST = { pollIntervalMs: 200, backoffMs: 100, powerTimeoutMs: 20_000 };

let workDir: string;
let node: SimNode;
let boot: Awaited<ReturnType<typeof startBootServer>>;
const { logger, lines: logLines } = capturingLogger();

function simNode(name: string, redfishTls = false) {
  return startSimNode({
    name,
    bmc: "redfish",
    username: "admin",
    password: PASSWORD,
    bootUrl: boot.bootUrl,
    diskGb: 1,
    memoryMb: 256,
    vcpus: 1,
    workDir,
    redfishTls,
  });
}

/** A raw request to the emulator, with basic auth unless `auth` is false. */
async function raw(method: string, path: string, body?: unknown, auth = true) {
  const { address, port } = node.bmcEndpoint;
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (auth) headers.Authorization = `Basic ${Buffer.from(`admin:${PASSWORD}`).toString("base64")}`;
  const init: RequestInit = { method, headers };
  if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
  const response = await fetch(`http://${address}:${port}${path}`, init);
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text ? JSON.parse(text) : undefined,
  };
}

async function systemBoot() {
  const systems = await raw("GET", "/redfish/v1/Systems");
  return (await raw("GET", systems.body.Members[0]["@odata.id"])).body.Boot;
}

before(async () => {
  await requireTools([
    ["qemu-system-x86_64", "qemu-system-x86"],
    ["qemu-img", "qemu-utils"],
    ["openssl", "openssl"],
  ]);
  workDir = await mkdtemp(join(tmpdir(), "mulligan-bmc-redfish-"));
  boot = await startBootServer();
  node = await simNode("redfish-node");
});

after(async () => {
  await node?.stop();
  await boot?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

test("the emulator speaks Redfish: service root, 401, 404, 405, 400 with Base messages", async () => {
  const root = await raw("GET", "/redfish/v1", undefined, false);
  assert.equal(root.status, 200);
  assert.equal(root.body["@odata.type"], "#ServiceRoot.v1_11_0.ServiceRoot");
  assert.equal(root.body.Systems["@odata.id"], "/redfish/v1/Systems");
  const anonymous = await raw("GET", "/redfish/v1/Systems", undefined, false);
  assert.equal(anonymous.status, 401);
  assert.match(anonymous.headers.get("www-authenticate") ?? "", /^Basic/);
  assert.equal(anonymous.body.error.code, "Base.1.8.NoValidSession");
  assert.equal(
    (await raw("GET", "/redfish/v1/Nothing")).body.error.code,
    "Base.1.8.ResourceMissingAtURI",
  );
  const wrongMethod = await raw("DELETE", "/redfish/v1/Systems");
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.get("allow"), "GET");
  const system = (await raw("GET", "/redfish/v1/Systems")).body.Members[0]["@odata.id"];
  const reset = await raw("POST", `${system}/Actions/ComputerSystem.Reset`, { ResetType: "Nmi" });
  assert.equal(reset.status, 400);
  assert.equal(reset.body.error.code, "Base.1.8.ActionParameterValueNotInList");
  const patch = await raw("PATCH", system, { Boot: { BootSourceOverrideTarget: "Floppy" } });
  assert.equal(patch.body.error.code, "Base.1.8.PropertyValueNotInList");
  const malformed = await raw("PATCH", system, "{not json");
  assert.equal(malformed.body.error.code, "Base.1.8.MalformedJSON");
  const details = (await raw("GET", system)).body;
  assert.deepEqual(details.Actions["#ComputerSystem.Reset"]["ResetType@Redfish.AllowableValues"], [
    "On",
    "ForceOff",
    "GracefulShutdown",
    "ForceRestart",
  ]);
  assert.equal(details.PowerState, "Off");
});

test("verify opens a session that close deletes; a new node reads powered off", async () => {
  const bmc = createBmcDriver(node.bmcEndpoint, { ...FAST, logger });
  await bmc.verify();
  assert.equal(
    (await raw("GET", "/redfish/v1/SessionService/Sessions")).body["Members@odata.count"],
    1,
  );
  assert.equal(await bmc.powerState(), "off");
  await bmc.close();
  assert.equal(
    (await raw("GET", "/redfish/v1/SessionService/Sessions")).body["Members@odata.count"],
    0,
  );
});

test("a BMC without a session service is driven with basic auth", async () => {
  const server = http.createServer(
    redfishEmulator({
      system: { id: "basic", name: "basic", uuid: randomUUID(), vcpus: 1, memoryMb: 256, macs: [] },
      machine: new SimMachine(simFiles(node.dir)),
      username: "admin",
      password: PASSWORD,
      mediaPath: join(node.dir, "unused.iso"),
      sessions: false,
    }),
  );
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  try {
    const { port } = server.address() as AddressInfo;
    const endpoint = { ...node.bmcEndpoint, port };
    const bmc = createBmcDriver(endpoint, FAST);
    assert.equal(await bmc.powerState(), "off");
    await bmc.close();
    const wrong = createBmcDriver({ ...endpoint, password: "wrong-password" }, FAST);
    await assert.rejects(wrong.verify(), (error: unknown) => {
      assert.ok(error instanceof BmcError);
      assert.equal(error.reason, "AUTH_FAILED");
      return true;
    });
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test("a wrong password is AUTH_FAILED with a clear message", async () => {
  const bmc = createBmcDriver({ ...node.bmcEndpoint, password: "wrong-password" }, FAST);
  await assert.rejects(bmc.verify(), (error: unknown) => {
    assert.ok(error instanceof BmcError);
    assert.equal(error.reason, "AUTH_FAILED");
    assert.match(error.message, /wrong username or password/);
    return true;
  });
});

test("Pxe once: the guest runs and netboots, then the override is consumed; power off", async () => {
  const bmc = createBmcDriver(node.bmcEndpoint, { ...FAST, logger });
  await bmc.setBootDevice("pxe", false);
  assert.deepEqual(
    [(await systemBoot()).BootSourceOverrideTarget, (await systemBoot()).BootSourceOverrideEnabled],
    ["Pxe", "Once"],
  );
  await bmc.setPower("on");
  assert.equal(await bmc.powerState(), "on");
  assert.equal(await qmpStatus(node.qmpSocket), "running");
  assert.ok(await waitFor(() => boot.hits.length > 0, 60_000), "the guest fetched its boot URL");
  const after = await systemBoot();
  assert.deepEqual(
    [after.BootSourceOverrideTarget, after.BootSourceOverrideEnabled],
    ["None", "Disabled"],
  );
  await bmc.setPower("off");
  assert.equal(await qmpStatus(node.qmpSocket), "paused");
  await bmc.close();
});

test("Hdd continuous survives a power cycle: the blank disk boots, no netboot", async () => {
  const bmc = createBmcDriver(node.bmcEndpoint, { ...FAST, logger });
  await bmc.setBootDevice("disk", true);
  for (let cycle = 0; cycle < 2; cycle++) {
    const hits = boot.hits.length;
    const serialBefore = (await readFile(node.serialLogPath, "utf8")).length;
    await bmc.setPower(cycle === 0 ? "on" : "reset");
    const sawDisk = await waitFor(async () => {
      const serial = (await readFile(node.serialLogPath, "utf8")).slice(serialBefore);
      return serial.includes("not a bootable disk");
    }, 60_000);
    assert.ok(sawDisk, `cycle ${cycle}: the firmware tried the disk`);
    assert.equal(boot.hits.length, hits, `cycle ${cycle}: no netboot`);
    assert.equal((await systemBoot()).BootSourceOverrideEnabled, "Continuous");
  }
  await bmc.setPower("off");
  await bmc.close();
});

test("GracefulShutdown that the OS ignores falls back to ForceOff", async () => {
  const bmc = createBmcDriver(node.bmcEndpoint, { ...FAST, logger, softOffTimeoutMs: 2_000 });
  await bmc.setPower("on");
  const started = Date.now();
  await bmc.setPower("soft-off");
  assert.ok(Date.now() - started >= 2_000, "it waited for the OS first");
  assert.equal(await bmc.powerState(), "off");
  assert.equal(await qmpStatus(node.qmpSocket), "paused", "forced off, not shut down by the OS");
  assert.ok(logLines.some((l) => l.includes("forcing the power off")));
  await bmc.close();
});

test("virtual media: InsertMedia puts the image in the guest's CD drive, EjectMedia takes it out", async () => {
  const bmc = new RedfishDriver(node.bmcEndpoint, { ...FAST, logger });
  const imageUrl = boot.bootUrl
    .replace("10.0.2.2", "127.0.0.1")
    .replace("/boot/ipxe", "/media.iso");
  await bmc.insertVirtualMedia(imageUrl);
  const cd = async () => {
    const qmp = await QmpClient.connect(node.qmpSocket);
    try {
      const blocks =
        await qmp.execute<{ qdev?: string; inserted?: { file: string } }[]>("query-block");
      return blocks.find((b) => b.qdev?.includes("cd0"));
    } finally {
      qmp.close();
    }
  };
  assert.equal((await cd())?.inserted?.file, join(node.dir, "virtual-media.iso"));
  const media = (await raw("GET", "/redfish/v1/Managers/BMC/VirtualMedia/Cd")).body;
  assert.deepEqual([media.Inserted, media.Image], [true, imageUrl]);
  await bmc.ejectVirtualMedia();
  assert.equal((await cd())?.inserted, undefined);
  assert.equal((await raw("GET", "/redfish/v1/Managers/BMC/VirtualMedia/Cd")).body.Inserted, false);
  await bmc.close();
});

test("a frozen BMC: bounded retries, then BMC_TIMEOUT or BMC_UNREACHABLE; works after SIGCONT", async () => {
  const bmc = createBmcDriver(node.bmcEndpoint, { ...FAST, logger, timeoutMs: 1_500, retries: 2 });
  node.freezeBmc();
  try {
    const started = Date.now();
    await assert.rejects(bmc.powerState(), (error: unknown) => {
      assert.ok(error instanceof BmcError);
      assert.ok(["BMC_UNREACHABLE", "BMC_TIMEOUT"].includes(error.reason), error.reason);
      return true;
    });
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 15_000, `bounded: ${elapsed} ms`);
  } finally {
    node.thawBmc();
  }
  assert.equal(await bmc.powerState(), "off");
  await bmc.close();
});

test("the password is never in any process's argv nor in the logs", async () => {
  const bmc = createBmcDriver(node.bmcEndpoint, { ...FAST, logger });
  const { leaks, samples } = await watchArgv(PASSWORD, async () => {
    await bmc.verify();
    await bmc.setPower("on");
    await bmc.setPower("off");
    await bmc.close();
  });
  assert.ok(samples > 0, `argv sampled ${samples} times`);
  assert.deepEqual(leaks, []);
  const argv = await readFile(`/proc/${node.bmcPid}/cmdline`, "utf8");
  assert.match(argv, /--password-file/);
  assert.ok(!logLines.join("").includes(PASSWORD));
});

test("HTTPS with a self-signed certificate: refused when verified, works with verifyTls false", async () => {
  await node.stop();
  node = await simNode("redfish-tls", true);
  assert.equal(node.bmcEndpoint.scheme, "https");
  const strict = createBmcDriver({ ...node.bmcEndpoint, verifyTls: true }, { ...FAST, retries: 0 });
  await assert.rejects(strict.verify(), (error: unknown) => {
    assert.ok(error instanceof BmcError);
    assert.match(error.message, /TLS verification failed/);
    return true;
  });
  const relaxed = createBmcDriver(node.bmcEndpoint, FAST);
  await relaxed.verify();
  assert.equal(await relaxed.powerState(), "off");
  await relaxed.close();
});

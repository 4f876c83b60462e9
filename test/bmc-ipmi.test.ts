/**
 * The ipmi driver against a real BMC: OpenIPMI's ipmi_sim on 127.0.0.1, whose chassis commands
 * drive a real QEMU guest (TCG) through QMP (src/sim). What the guest does is the proof: after
 * "pxe" its iPXE ROM fetches the test's boot URL, after "disk" it finds the blank disk and
 * stops. One guest runs at a time.
 */
import assert from "node:assert/strict";
import { access, chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { BmcError } from "../src/executor/drivers/bmc-driver.js";
import { createBmcDriver } from "../src/executor/drivers/bmc-factory.js";
import { IpmiDriver } from "../src/executor/drivers/ipmi/ipmi-driver.js";
import { type SimNode, startSimNode } from "../src/sim/fleet.js";
import { qmpStatus, requireTools, startBootServer, waitFor, watchArgv } from "./bmc-helpers.js";
import { capturingLogger } from "./harness.js";

const PASSWORD = "Ipmi-T3st-Secret";
const FAST = { pollIntervalMs: 200, backoffMs: 100, powerTimeoutMs: 20_000 };

let workDir: string;
let node: SimNode;
let boot: Awaited<ReturnType<typeof startBootServer>>;
const { logger, lines: logLines } = capturingLogger();

before(async () => {
  await requireTools([
    ["ipmitool", "ipmitool"],
    ["ipmi_sim", "openipmi"],
    ["qemu-system-x86_64", "qemu-system-x86"],
    ["qemu-img", "qemu-utils"],
  ]);
  workDir = await mkdtemp(join(tmpdir(), "mulligan-bmc-ipmi-"));
  boot = await startBootServer();
  node = await startSimNode({
    name: "ipmi-node",
    bmc: "ipmi",
    username: "admin",
    password: PASSWORD,
    bootUrl: boot.bootUrl,
    diskGb: 1,
    memoryMb: 256,
    vcpus: 1,
    workDir,
  });
});

after(async () => {
  await node?.stop();
  await boot?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

test("verify succeeds and a new node reads powered off", async () => {
  const bmc = createBmcDriver(node.bmcEndpoint, { ...FAST, logger });
  await bmc.verify();
  assert.equal(await bmc.powerState(), "off");
  assert.notEqual(await qmpStatus(node.qmpSocket), "running");
});

test("a wrong password is AUTH_FAILED at once, with a clear message and no retries", async () => {
  const bmc = createBmcDriver({ ...node.bmcEndpoint, password: "wrong-password" }, FAST);
  const started = Date.now();
  await assert.rejects(bmc.verify(), (error: unknown) => {
    assert.ok(error instanceof BmcError);
    assert.equal(error.reason, "AUTH_FAILED");
    assert.match(error.message, /wrong username or password/);
    assert.ok(!error.message.includes("wrong-password"));
    return true;
  });
  assert.ok(Date.now() - started < 5_000, "an auth failure is not retried");
});

test("boot from pxe, power on: the guest runs and netboots; power off stops it", async () => {
  const bmc = createBmcDriver(node.bmcEndpoint, { ...FAST, logger });
  await bmc.setBootDevice("pxe", false);
  const started = Date.now();
  await bmc.setPower("on");
  const onMs = Date.now() - started;
  assert.equal(await bmc.powerState(), "on");
  assert.equal(await qmpStatus(node.qmpSocket), "running");
  assert.ok(await waitFor(() => boot.hits.length > 0, 60_000), "the guest fetched its boot URL");
  await bmc.setPower("off");
  assert.equal(await bmc.powerState(), "off");
  assert.equal(await qmpStatus(node.qmpSocket), "paused");
  logger.info({ onMs }, "measured power on");
});

test("boot from disk (persistent) survives a power cycle: the blank disk boots, no netboot", async () => {
  const bmc = createBmcDriver(node.bmcEndpoint, { ...FAST, logger });
  await bmc.setBootDevice("disk", true);
  for (let cycle = 0; cycle < 2; cycle++) {
    const hits = boot.hits.length;
    const serialBefore = (await readFile(node.serialLogPath, "utf8")).length;
    await bmc.setPower("on");
    const sawDisk = await waitFor(async () => {
      const serial = (await readFile(node.serialLogPath, "utf8")).slice(serialBefore);
      return serial.includes("not a bootable disk");
    }, 60_000);
    assert.ok(sawDisk, `cycle ${cycle}: the firmware tried the disk`);
    assert.equal(boot.hits.length, hits, `cycle ${cycle}: no netboot`);
    await bmc.setPower("off");
  }
});

test("soft power-off that the OS ignores falls back to a hard power-off", async () => {
  const bmc = createBmcDriver(node.bmcEndpoint, { ...FAST, logger, softOffTimeoutMs: 2_000 });
  await bmc.setBootDevice("pxe", true);
  await bmc.setPower("on");
  const started = Date.now();
  await bmc.setPower("soft-off");
  assert.ok(Date.now() - started >= 2_000, "it waited for the OS first");
  assert.equal(await bmc.powerState(), "off");
  assert.equal(await qmpStatus(node.qmpSocket), "paused", "forced off, not shut down by the OS");
  assert.ok(logLines.some((l) => l.includes("forcing the power off")));
});

test("reset powers an off node on and restarts a running one", async () => {
  const bmc = createBmcDriver(node.bmcEndpoint, { ...FAST, logger });
  await bmc.setPower("reset");
  assert.equal(await bmc.powerState(), "on");
  await bmc.setPower("reset");
  assert.equal(await qmpStatus(node.qmpSocket), "running");
  await bmc.setPower("off");
});

test("a frozen BMC: bounded retries, then BMC_UNREACHABLE or BMC_TIMEOUT; works after SIGCONT", async () => {
  const bmc = createBmcDriver(node.bmcEndpoint, {
    ...FAST,
    logger,
    timeoutMs: 2_000,
    retries: 2,
  });
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
    assert.ok(logLines.some((l) => l.includes("retrying")));
  } finally {
    node.thawBmc();
  }
  assert.equal(await bmc.powerState(), "off");
});

test("the password is never in any process's argv nor in the logs; its file is removed", async () => {
  // A wrapper records every argv ipmitool gets; the sampler watches all processes meanwhile.
  const wrapper = join(workDir, "ipmitool-wrapper.sh");
  const argvLog = join(workDir, "ipmitool-argv.log");
  await writeFile(wrapper, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${argvLog}'\nexec ipmitool "$@"\n`);
  await chmod(wrapper, 0o755);
  const bmc = createBmcDriver(node.bmcEndpoint, { ...FAST, logger, ipmitoolBinary: wrapper });
  const { leaks } = await watchArgv(PASSWORD, async () => {
    for (let i = 0; i < 5; i++) await bmc.powerState();
    await bmc.setBootDevice("pxe", false);
  });
  assert.deepEqual(leaks, []);
  const argvs = (await readFile(argvLog, "utf8")).trim().split("\n");
  assert.equal(argvs.length, 7, "5 status reads, the boot device and its read-back");
  for (const argv of argvs) {
    assert.ok(!argv.includes(PASSWORD));
    const file = /-f (\S+)/.exec(argv)?.[1] as string;
    assert.ok(file, "the password goes by file");
    await assert.rejects(access(file), "the password file is removed after the run");
  }
  assert.ok(logLines.length > 0);
  assert.ok(!logLines.join("").includes(PASSWORD));
});

test("a missing ipmitool is BMC_TOOL_MISSING naming the Debian package", async () => {
  const bmc = new IpmiDriver(node.bmcEndpoint, { ipmitoolBinary: "/nonexistent/ipmitool" });
  await assert.rejects(bmc.powerState(), (error: unknown) => {
    assert.ok(error instanceof BmcError);
    assert.equal(error.reason, "BMC_TOOL_MISSING");
    assert.match(error.message, /Debian package ipmitool/);
    return true;
  });
});

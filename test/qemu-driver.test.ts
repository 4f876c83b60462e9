/**
 * The QEMU driver against real QEMU (TCG) and a real guest: the tiny busybox guest that
 * scripts/build-test-image.sh builds into .cache/test-image. One guest runs at a time. The
 * guest proves the config drive by printing its instance-id, hostname and key count.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { access, chmod, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { probeBoot, probeKvm } from "../src/executor/drivers/qemu/kvm-probe.js";
import { QemuDriver } from "../src/executor/drivers/qemu/qemu-driver.js";
import { QmpClient } from "../src/executor/drivers/qemu/qmp-client.js";
import { GuestError, type GuestSpec, type GuestState } from "../src/executor/drivers/vm-driver.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const IMAGE_DIR = join(ROOT, ".cache", "test-image");
const INSTALL = "apt-get install qemu-system-x86 qemu-utils genisoimage";
const BOOT_TIMEOUT_MS = 60_000;

let stateDir: string;
let image: { kernel: string; initrd: string; cmdline: string; boot_marker: string };

before(async () => {
  for (const tool of ["qemu-system-x86_64", "qemu-img", "genisoimage"]) {
    const probe = spawnSync(tool, ["--version"], { stdio: "ignore" });
    if (probe.error) throw new Error(`${tool} is missing: ${INSTALL}`);
  }
  execFileSync("bash", [join(ROOT, "scripts", "build-test-image.sh"), IMAGE_DIR], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  image = JSON.parse(await readFile(join(IMAGE_DIR, "image.json"), "utf8"));
  stateDir = await mkdtemp(join(tmpdir(), "mulligan-qemu-"));
});

after(async () => {
  if (!stateDir) return;
  const driver = await QemuDriver.create({ stateDir, shutdownGraceMs: 500 });
  for (const guest of await driver.list()) await driver.destroy(guest.uuid);
  await driver.close();
  await rm(stateDir, { recursive: true, force: true });
});

function spec(overrides: Partial<GuestSpec> = {}): GuestSpec {
  return {
    uuid: randomUUID(),
    hostname: "guest-one",
    vcpus: 1,
    memoryMb: 192,
    diskGb: 1,
    image: {
      kind: "kernel",
      kernelPath: join(IMAGE_DIR, image.kernel),
      initrdPath: join(IMAGE_DIR, image.initrd),
      cmdline: image.cmdline,
    },
    sshKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMulliganTestKeyOnly test@mulligan"],
    userData: "#cloud-config\n",
    bootMarker: image.boot_marker,
    ...overrides,
  };
}

/** True once no process of guest `uuid` runs with `pid` (within 20 s). */
async function waitGoneFor(pid: number, uuid: string): Promise<boolean> {
  const deadline = Date.now() + 20_000;
  while ((await qemuPidsOf(uuid)).includes(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Pids of every process whose command line names guest `uuid`. */
async function qemuPidsOf(uuid: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const argv = await readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "");
    if (argv.split("\0").includes(`guest=${uuid}`)) pids.push(Number(name));
  }
  return pids;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Asserts that `promise` rejects with a GuestError of this step, reason and fault. */
async function rejectsWith(
  promise: Promise<unknown>,
  step: string,
  reason: string,
  hostFault: boolean,
): Promise<GuestError> {
  const error = await promise.then(
    () => assert.fail(`expected GuestError ${reason}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof GuestError, `not a GuestError: ${error}`);
  assert.deepEqual([error.step, error.reason, error.hostFault], [step, reason, hostFault]);
  return error;
}

test("a guest boots, reads its config drive, is adopted after a restart and is destroyed", async () => {
  const s = spec();
  const driver = await QemuDriver.create({ stateDir });
  const steps: string[] = [];
  const created = await driver.create(s, {
    bootTimeoutMs: BOOT_TIMEOUT_MS,
    onProgress: (p) => steps.push(p.step),
  });
  // The disk and the config drive are made side by side, in either order.
  const order = [...new Set(steps)];
  assert.deepEqual(order.slice(0, 2).sort(), ["config-drive", "disk"]);
  assert.deepEqual(order.slice(2), ["start", "boot"]);
  assert.equal(created.power, "running");
  assert.ok(created.pid);

  assert.deepEqual(await driver.status(s.uuid), {
    uuid: s.uuid,
    power: "running",
    pid: created.pid,
  });
  const console = await driver.consoleLog(s.uuid, 64 * 1024);
  assert.match(console, new RegExp(`mulligan-guest: instance-id=${s.uuid}\\r?\\n`));
  assert.match(console, /mulligan-guest: hostname=guest-one\r?\n/);
  assert.match(console, /mulligan-guest: ssh-keys=1\r?\n/);
  assert.match(console, new RegExp(image.boot_marker));
  assert.equal((await driver.consoleLog(s.uuid, 10)).length, 10);
  await driver.close();

  // An executor restart: a new driver on the same directory finds and adopts the guest.
  // A long grace: only an ACPI power-off ends destroy() before it (else quit, then SIGKILL).
  const GRACE_MS = 30_000;
  const restarted = await QemuDriver.create({ stateDir, shutdownGraceMs: GRACE_MS });
  assert.deepEqual(await restarted.list(), [{ uuid: s.uuid, power: "running", pid: created.pid }]);
  const adoptSteps: string[] = [];
  const adopted = await restarted.create(s, {
    bootTimeoutMs: 5_000,
    onProgress: (p) => adoptSteps.push(p.step),
  });
  assert.equal(adopted.pid, created.pid);
  assert.deepEqual([...new Set(adoptSteps)], ["start", "boot"]);
  assert.deepEqual(await qemuPidsOf(s.uuid), [created.pid]);
  const pidFile = await readFile(join(stateDir, s.uuid, "qemu.pid"), "utf8");
  assert.equal(Number(pidFile.trim()), created.pid);

  const started = Date.now();
  await restarted.destroy(s.uuid);
  // The guest powers off on the ACPI request, before the grace period ends.
  assert.ok(Date.now() - started < GRACE_MS, `destroy took ${Date.now() - started} ms`);
  assert.deepEqual(await qemuPidsOf(s.uuid), []);
  assert.equal(await exists(join(stateDir, s.uuid)), false);
  assert.deepEqual(await restarted.status(s.uuid), { uuid: s.uuid, power: "absent" });
  await restarted.destroy(s.uuid);
  assert.equal(await restarted.consoleLog(s.uuid, 100), "");
  await restarted.close();
});

test("a qcow2 disk image boots through a copy-on-write overlay; the image is never written", async () => {
  // The disk-bootable test OS of the bare-metal tests (SYSLINUX + kernel on an MBR disk),
  // converted to qcow2 as an operator's cloud image would come.
  const built = join(ROOT, ".cache", "deploy-image");
  execFileSync("bash", [join(ROOT, "scripts", "build-deploy-image.sh"), built], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  const imageDir = await mkdtemp(join(tmpdir(), "mulligan-qcow2-"));
  const imagePath = join(imageDir, "os.qcow2");
  execFileSync("qemu-img", ["convert", "-q", "-O", "qcow2", join(built, "disk.raw"), imagePath]);
  const hashBefore = sha256(await readFile(imagePath));
  const s = spec({
    image: { kind: "disk", path: imagePath, format: "qcow2" },
    bootMarker: "mulligan-deployed-os booted",
  });
  const driver = await QemuDriver.create({ stateDir, shutdownGraceMs: 500 });
  try {
    const created = await driver.create(s, { bootTimeoutMs: BOOT_TIMEOUT_MS });
    assert.equal(created.power, "running");
    assert.match(await driver.consoleLog(s.uuid, 64 * 1024), /mulligan-deployed-os booted/);
    // The guest's root disk is an overlay whose backing file is the image, in its format.
    const info = JSON.parse(
      execFileSync("qemu-img", [
        "info",
        "--force-share",
        "--output=json",
        join(stateDir, s.uuid, "disk.qcow2"),
      ]).toString(),
    );
    assert.equal(info.format, "qcow2");
    assert.equal(info["backing-filename"], imagePath);
    assert.equal(info["backing-filename-format"], "qcow2");
    assert.equal(info["virtual-size"], s.diskGb * 1024 ** 3);
    await driver.destroy(s.uuid);
    assert.deepEqual(await qemuPidsOf(s.uuid), []);
    assert.equal(await exists(join(stateDir, s.uuid)), false);
    assert.equal(sha256(await readFile(imagePath)), hashBefore, "the image itself was written");
  } finally {
    await driver.close();
    await rm(imageDir, { recursive: true, force: true });
  }
});

test("a guest starts while a watching executor lists guests (QMP serves one client at a time)", async () => {
  // The executor watches power and lists every guest with each poll (consoles); a status() of
  // the guest being started must not take QEMU's one QMP client slot from the start's probe.
  const driver = await QemuDriver.create({ stateDir, shutdownGraceMs: 500 });
  const unwatch = driver.watch(() => {});
  let listing = true;
  let lists = 0;
  const lister = (async () => {
    while (listing) {
      await driver.list();
      lists++;
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const s = spec();
  try {
    const started = Date.now();
    const created = await driver.create(s, { bootTimeoutMs: BOOT_TIMEOUT_MS });
    assert.equal(created.power, "running");
    assert.ok(lists > 10, `the lister ran ${lists} times`);
    assert.ok(Date.now() - started < BOOT_TIMEOUT_MS);
  } finally {
    listing = false;
    await lister;
    unwatch();
    await driver.destroy(s.uuid);
    await driver.close();
  }
  assert.deepEqual(await qemuPidsOf(s.uuid), []);
});

test("QMP power events reach the watcher: paused, resumed, and the guest's own power-off", async () => {
  // A second QMP monitor (QEMU takes several) lets the test act on the guest the way an
  // operator's tool or the guest itself would, while the driver holds its own.
  const extraQmp = join(stateDir, `extra-${randomUUID().slice(0, 8)}.sock`);
  const wrapper = join(stateDir, "qemu-with-extra-qmp.sh");
  await writeFile(
    wrapper,
    `#!/bin/sh\nexec qemu-system-x86_64 "$@" -qmp unix:${extraQmp},server=on,wait=off\n`,
  );
  await chmod(wrapper, 0o755);
  const driver = await QemuDriver.create({ stateDir, qemuBinary: wrapper, shutdownGraceMs: 500 });
  const s = spec();
  const seen: string[] = [];
  const unwatch = driver.watch((state) => {
    if (state.uuid === s.uuid) seen.push(state.power);
  });
  const seenNext = async (power: string, from: number) => {
    const deadline = Date.now() + 20_000;
    while (!seen.slice(from).includes(power)) {
      assert.ok(
        Date.now() < deadline,
        `no ${power} after ${seen.slice(0, from).join(",")}: ${seen}`,
      );
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  let qmp: QmpClient | undefined;
  try {
    const created = await driver.create(s, { bootTimeoutMs: BOOT_TIMEOUT_MS });
    qmp = await QmpClient.connect(extraQmp);
    let mark = seen.length;
    await qmp.execute("stop");
    await seenNext("stopped", mark);
    assert.equal((await driver.status(s.uuid)).power, "stopped");
    mark = seen.length;
    await qmp.execute("cont");
    await seenNext("running", mark);
    assert.equal((await driver.status(s.uuid)).power, "running");
    // The ACPI power button: the guest powers itself off, QEMU exits (-no-reboot).
    mark = seen.length;
    await qmp.execute("system_powerdown");
    await seenNext("stopped", mark);
    assert.ok(await waitGoneFor(created.pid ?? 0, s.uuid), "QEMU exited after the power-off");
    assert.equal((await driver.status(s.uuid)).power, "stopped", "its disk is still there");
  } finally {
    qmp?.close();
    unwatch();
    await driver.destroy(s.uuid);
    await driver.close();
  }
  assert.deepEqual(await qemuPidsOf(s.uuid), []);
});

test("a missing QEMU binary is HYPERVISOR_MISSING, the host's fault", async () => {
  const driver = await QemuDriver.create({
    stateDir,
    qemuBinary: "/nonexistent/qemu-system-x86_64",
  });
  const s = spec();
  await rejectsWith(
    driver.create(s, { bootTimeoutMs: 5_000 }),
    "start",
    "HYPERVISOR_MISSING",
    true,
  );
  await driver.destroy(s.uuid);
  assert.equal(await exists(join(stateDir, s.uuid)), false);
  await driver.close();
});

test("a QEMU that exits at start is HYPERVISOR_FAILED with its own words", async () => {
  const fake = join(stateDir, "fake-qemu.sh");
  await writeFile(fake, "#!/bin/sh\necho 'qemu: could not open the frobnicator' >&2\nexit 1\n");
  await chmod(fake, 0o755);
  const driver = await QemuDriver.create({ stateDir, qemuBinary: fake });
  const s = spec();
  const error = await rejectsWith(
    driver.create(s, { bootTimeoutMs: 5_000 }),
    "start",
    "HYPERVISOR_FAILED",
    true,
  );
  assert.match(error.message, /could not open the frobnicator/);
  await driver.destroy(s.uuid);
  await rm(fake);
  await driver.close();
});

test("a boot marker that never shows is BOOT_TIMEOUT, and destroy cleans up", async () => {
  const driver = await QemuDriver.create({ stateDir, shutdownGraceMs: 500 });
  const s = spec({ bootMarker: "^THIS_MARKER_NEVER_SHOWS$" });
  const started = Date.now();
  await rejectsWith(driver.create(s, { bootTimeoutMs: 4_000 }), "boot", "BOOT_TIMEOUT", false);
  const took = Date.now() - started;
  assert.ok(took >= 4_000 && took < 6_000, `BOOT_TIMEOUT after ${took} ms`);
  const pids = await qemuPidsOf(s.uuid);
  assert.equal(pids.length, 1);
  await driver.destroy(s.uuid);
  assert.deepEqual(await qemuPidsOf(s.uuid), []);
  assert.equal(await exists(join(stateDir, s.uuid)), false);
  await driver.close();
});

test("an abort stops the wait and kills nothing; watch sees the guest die", async () => {
  const driver = await QemuDriver.create({ stateDir, shutdownGraceMs: 500 });
  const s = spec({ bootMarker: "^THIS_MARKER_NEVER_SHOWS$" });
  const controller = new AbortController();
  const reason = new Error("the task was cancelled");
  setTimeout(() => controller.abort(reason), 1_500);
  const started = Date.now();
  const error = await driver
    .create(s, { bootTimeoutMs: BOOT_TIMEOUT_MS, signal: controller.signal })
    .catch((e: unknown) => e);
  assert.equal(error, reason);
  assert.ok(Date.now() - started < 3_000, `abort took ${Date.now() - started} ms`);
  const state = await driver.status(s.uuid);
  assert.equal(state.power, "running");
  assert.ok(state.pid);

  const changes: GuestState[] = [];
  const changed = new Promise<void>((resolve) => {
    const stop = driver.watch((c) => {
      changes.push(c);
      if (c.power === "stopped") {
        stop();
        resolve();
      }
    });
  });
  // While watching, status() runs on the watch's connection: once it answers, kill QEMU
  // behind the driver's back.
  assert.equal((await driver.status(s.uuid)).power, "running");
  process.kill(state.pid, "SIGKILL");
  await changed;
  assert.deepEqual(changes.at(-1), { uuid: s.uuid, power: "stopped" });
  await driver.destroy(s.uuid);
  assert.equal(await exists(join(stateDir, s.uuid)), false);
  await driver.close();
});

test("the KVM probe's guest runs under TCG, and no usable /dev/kvm means no KVM", async () => {
  assert.equal(await probeBoot("tcg"), true);
  assert.equal(await probeKvm({ kvmDevice: "/nonexistent/kvm" }), false);
  const driver = await QemuDriver.create({ stateDir });
  assert.equal(driver.accel, "tcg");
  await driver.close();
});

/**
 * A qemu-system-x86_64 whose KVM fails (as on hosts where KVM runs the probe's tiny guest but
 * not a kernel): it exits when asked for KVM and runs the real QEMU otherwise.
 */
async function qemuWithBrokenKvm(): Promise<string> {
  const path = join(stateDir, "qemu-broken-kvm.sh");
  const script = [
    "#!/bin/sh",
    'for a in "$@"; do [ "$a" = kvm ] && { echo "KVM internal error (test)" >&2; exit 1; }; done',
    'exec qemu-system-x86_64 "$@"',
  ];
  await writeFile(path, `${script.join("\n")}\n`);
  await chmod(path, 0o755);
  return path;
}

test("auto: a guest KVM fails is started again under TCG; KVM goes only if TCG boots it", async () => {
  const qemuBinary = await qemuWithBrokenKvm();
  const driver = await QemuDriver.create({
    stateDir,
    accel: "auto",
    probeKvm: async () => true,
    qemuBinary,
    shutdownGraceMs: 500,
  });
  assert.equal(driver.accel, "kvm", "the probe said KVM works");
  // A guest that boots under neither: the image's fault, not KVM's, so KVM stays.
  const never = spec({ bootMarker: "NEVER_PRINTED_BY_THIS_GUEST" });
  await assert.rejects(driver.create(never, { bootTimeoutMs: 3_000 }), (err) => {
    assert.ok(err instanceof GuestError, String(err));
    assert.equal(err.reason, "BOOT_TIMEOUT", "the TCG attempt's failure is the answer");
    return true;
  });
  assert.equal(driver.accel, "kvm", "a guest TCG cannot boot either says nothing about KVM");
  await driver.destroy(never.uuid);
  // A good guest: KVM fails it, TCG boots it, and KVM is not used again.
  const steps: string[] = [];
  const s = spec();
  const state = await driver.create(s, {
    bootTimeoutMs: BOOT_TIMEOUT_MS,
    onProgress: (p) => steps.push(p.message),
  });
  assert.equal(state.power, "running");
  assert.ok(
    steps.some((m) => m.includes("starting it under TCG")),
    `no fallback in ${JSON.stringify(steps)}`,
  );
  assert.equal(driver.accel, "tcg", "KVM failed a guest TCG booted");
  const next = spec();
  const nextSteps: string[] = [];
  await driver.create(next, {
    bootTimeoutMs: BOOT_TIMEOUT_MS,
    onProgress: (p) => nextSteps.push(p.message),
  });
  assert.ok(nextSteps.includes("starting QEMU (tcg)"), JSON.stringify(nextSteps));
  await driver.destroy(s.uuid);
  await driver.destroy(next.uuid);
  await driver.close();
});

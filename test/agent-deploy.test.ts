/**
 * End to end with a real guest (QEMU, TCG, one at a time): a blank node netboots through
 * QEMU's iPXE ROM from the boot server (user networking's HTTP bootfile → /boot/boot.ipxe →
 * the per-MAC script → the deploy agent built by scripts/build-deploy-agent.sh); the test
 * drives inspect, erase and deploy of the disk-bootable test OS (scripts/build-deploy-image.sh)
 * through AgentSession, then boots the node from its disk — directly, and through iPXE with the
 * node's "local" plan — and sees the deployed OS's marker each time.
 * Missing tools fail the test with the Debian packages to install.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, open, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { AgentError } from "../src/executor/boot/agent-protocol.js";
import { BootServer, newAgentToken } from "../src/executor/boot/boot-server.js";
import { capturingLogger } from "./harness.js";

const ROOT = resolve(import.meta.dirname, "..");
const IPXE_ROM = "/usr/lib/ipxe/qemu/efi-virtio.rom";
const NODE = "2d6f7a9c-1b3e-4c5d-8e9f-a0b1c2d3e4f5";
const MAC = "52:54:00:6d:75:01";
const DISK_BYTES = 256 * 1024 * 1024;
const MEMORY_MB = 512;
const CPUS = 2;

let dir: string;
let server: BootServer;
let guest: ChildProcess | undefined;
const { logger, lines: logLines } = capturingLogger();
let failed = true;

/** Fails with the apt-get line when a tool of this test is missing. */
function requireTools(): void {
  const missing: string[] = [];
  const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
  if (!has("qemu-system-x86_64")) missing.push("qemu-system-x86");
  if (!existsSync(IPXE_ROM)) missing.push("ipxe-qemu");
  for (const [cmd, pkg] of [
    ["cpio", "cpio"],
    ["syslinux", "syslinux"],
    ["mcopy", "mtools"],
    ["mkfs.vfat", "dosfstools"],
    ["sfdisk", "fdisk"],
  ] as const)
    if (!has(cmd)) missing.push(pkg);
  if (!existsSync("/usr/lib/syslinux/mbr/mbr.bin")) missing.push("syslinux-common");
  if (!existsSync("/bin/busybox")) missing.push("busybox-static");
  if (missing.length > 0) throw new Error(`missing tools: apt-get install ${missing.join(" ")}`);
}

/** Runs a build script and returns the directory it printed. */
function build(script: string): string {
  return execFileSync("bash", [join(ROOT, "scripts", script)], {
    stdio: ["ignore", "pipe", "inherit"],
    encoding: "utf8",
  }).trim();
}

/** Starts the one guest: netboot (`-boot n`) or from its disk (`-boot c`). */
function startGuest(boot: "n" | "c", serialLog: string, diskPath: string): ChildProcess {
  const args = [
    ...["-machine", "pc,accel=tcg", "-smp", String(CPUS), "-m", String(MEMORY_MB)],
    ...["-display", "none", "-monitor", "none", "-serial", `file:${serialLog}`, "-no-reboot"],
    ...["-drive", `file=${diskPath},format=raw,if=virtio,discard=unmap`],
    ...["-netdev", `user,id=n0,bootfile=${server.publicUrl}/boot/boot.ipxe`],
    // Debian's iPXE ROM matches the modern virtio-net id (1af4:1041) only: no legacy mode.
    ...["-device", `virtio-net-pci,netdev=n0,mac=${MAC},disable-legacy=on,romfile=${IPXE_ROM}`],
    ...["-boot", boot],
  ];
  const child = spawn("qemu-system-x86_64", args, { stdio: ["ignore", "ignore", "pipe"] });
  child.stderr?.on("data", (d: Buffer) => process.stderr.write(`qemu: ${d}`));
  return child;
}

async function stopGuest(): Promise<void> {
  const child = guest;
  guest = undefined;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await exited;
}

/** Resolves when `text` appears in the file, failing after timeoutMs with the file's tail. */
async function waitForText(path: string, text: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (existsSync(path) && readFileSync(path, "utf8").includes(text)) return;
    await sleep(250);
  }
  const tail = existsSync(path) ? readFileSync(path, "utf8").slice(-2000) : "(no output)";
  throw new Error(`"${text}" not seen in ${timeoutMs} ms; console:\n${tail}`);
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** `length` bytes of a file from `offset`. */
async function readBytes(path: string, offset: number, length: number): Promise<Buffer> {
  const f = await open(path, "r");
  try {
    const buf = Buffer.alloc(length);
    await f.read(buf, 0, length, offset);
    return buf;
  } finally {
    await f.close();
  }
}

before(async () => {
  requireTools();
  dir = await mkdtemp(join(tmpdir(), "agent-deploy-"));
  server = await BootServer.start({
    host: "127.0.0.1",
    advertiseHost: "10.0.2.2",
    agentDir: build("build-deploy-agent.sh"),
    logger,
  });
});

after(async () => {
  await stopGuest();
  // A failure's story is on the guest's console: show its end before the files go.
  for (const name of ["agent-console.log", "os-console.log", "local-console.log"]) {
    const path = dir ? join(dir, name) : "";
    if (failed && path && existsSync(path))
      process.stderr.write(`--- ${name}\n${readFileSync(path, "utf8").slice(-3000)}\n`);
  }
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("netboot the agent, inspect, erase, deploy with sha256 verified on disk, boot from disk", async () => {
  const imageDir = build("build-deploy-image.sh");
  const meta = JSON.parse(await readFile(join(imageDir, "image.json"), "utf8")) as {
    disk: string;
    sha256: string;
    size_bytes: number;
    boot_marker: string;
  };
  const diskPath = join(dir, "node-disk.raw");
  execFileSync("truncate", ["-s", String(DISK_BYTES), diskPath]);
  // Old data at both ends, which erase must remove.
  const f = await open(diskPath, "r+");
  await f.write(randomBytes(1 << 20), 0, 1 << 20, 0);
  await f.write(randomBytes(1 << 20), 0, 1 << 20, DISK_BYTES / 2);
  await f.write(randomBytes(1 << 20), 0, 1 << 20, DISK_BYTES - (1 << 20));
  await f.close();

  // The plan carries the real token, but first a session expects another one: the agent's
  // callbacks are refused (401) and it keeps retrying, so hello times out — an agent that
  // never reached the conductor. Then the right session opens and the agent's retry gets in.
  const token = newAgentToken();
  server.setNodeBoot(MAC, { kind: "agent", nodeUuid: NODE, token });
  const wrong = server.expectAgent(NODE, newAgentToken());
  const serial = join(dir, "agent-console.log");
  const started = Date.now();
  guest = startGuest("n", serial, diskPath);
  await waitForText(serial, "mulligan-agent: eth0", 240_000);
  await assert.rejects(wrong.hello(8_000), (e: unknown) => {
    assert.ok(e instanceof AgentError);
    assert.equal(e.reason, "AGENT_TIMEOUT");
    assert.equal(e.step, "hello");
    return true;
  });
  assert.ok(
    logLines.some((l) => l.includes("agent callback refused")),
    "no refused callback",
  );
  wrong.close();

  const progress: string[] = [];
  const session = server.expectAgent(NODE, token, (m) => progress.push(m));
  assert.deepEqual(await session.hello(30_000), { version: "1" });
  const bootToHelloMs = Date.now() - started;

  const inventory = await session.inspect(60_000);
  assert.equal(inventory.cpus, CPUS);
  assert.equal(inventory.memory_mb, MEMORY_MB);
  assert.equal(inventory.arch, "x86_64");
  assert.deepEqual(inventory.disks, [{ name: "vda", size_bytes: DISK_BYTES }]);
  assert.deepEqual(
    inventory.nics.map((n) => n.mac),
    [MAC],
  );

  const eraseStart = Date.now();
  const erased = await session.erase(["vda"], 180_000);
  const eraseMs = Date.now() - eraseStart;
  assert.deepEqual(erased.disks, ["vda"]);
  const zeros = Buffer.alloc(1 << 20);
  assert.ok((await readBytes(diskPath, 0, 1 << 20)).equals(zeros), "first MiB not erased");
  assert.ok(
    (await readBytes(diskPath, DISK_BYTES - (1 << 20), 1 << 20)).equals(zeros),
    "last MiB not erased",
  );
  assert.ok((await readBytes(diskPath, DISK_BYTES / 2, 1 << 20)).equals(zeros), "not discarded");
  assert.deepEqual(progress, ["erasing vda"]);

  const url = server.publishImage(join(imageDir, meta.disk), meta.sha256);
  const image = { url, sha256: meta.sha256, sizeBytes: meta.size_bytes, disk: "vda" };
  await assert.rejects(session.deploy({ ...image, sha256: "0".repeat(64) }, 180_000), {
    name: "AgentError",
    step: "deploy",
    reason: "IMAGE_CHECKSUM_MISMATCH",
  });
  await assert.rejects(session.deploy({ ...image, disk: "vdz" }, 60_000), {
    reason: "DISK_NOT_FOUND",
  });

  const deployStart = Date.now();
  const deployed = await session.deploy(image, 180_000);
  const deployMs = Date.now() - deployStart;
  assert.equal(deployed.sha256, meta.sha256);
  assert.equal(deployed.size_bytes, meta.size_bytes);
  assert.equal(sha256(await readBytes(diskPath, 0, meta.size_bytes)), meta.sha256);

  const exited = new Promise((r) => guest?.once("exit", r));
  await session.poweroff(30_000);
  session.close();
  server.setNodeBoot(MAC, { kind: "local" });
  await Promise.race([exited, sleep(60_000).then(() => assert.fail("agent did not power off"))]);
  guest = undefined;

  const osSerial = join(dir, "os-console.log");
  const osStart = Date.now();
  guest = startGuest("c", osSerial, diskPath);
  await waitForText(osSerial, meta.boot_marker, 180_000);
  const diskBootMs = Date.now() - osStart;
  await stopGuest();

  // A node whose BMC still boots from the network: its "local" plan hands over to the disk.
  const localSerial = join(dir, "local-console.log");
  guest = startGuest("n", localSerial, diskPath);
  await waitForText(localSerial, meta.boot_marker, 180_000);
  await stopGuest();

  // The token never reaches the executor's logs nor the node's serial console.
  assert.ok(!logLines.join("").includes(token), "token in the boot server's log");
  assert.ok(!readFileSync(serial, "utf8").includes(token), "token on the agent's console");
  failed = false;
  process.stderr.write(
    `agent-deploy timings: boot to hello ${bootToHelloMs} ms, erase ${DISK_BYTES >> 20} MiB ${eraseMs} ms, ` +
      `deploy ${meta.size_bytes >> 20} MiB ${deployMs} ms, disk boot to marker ${diskBootMs} ms\n`,
  );
});

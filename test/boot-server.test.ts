/**
 * The boot server over real HTTP: iPXE scripts by MAC, boot files and image blobs (with
 * ranges), the agent callback's token checks, and an AgentSession driven by an HTTP client
 * that speaks the agent's protocol exactly as the busybox agent does.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { AgentError } from "../src/executor/boot/agent-protocol.js";
import { BootServer, newAgentToken } from "../src/executor/boot/boot-server.js";
import { parseRange } from "../src/executor/boot/file-response.js";
import { sha256File, toRawImage } from "../src/executor/boot/raw-image.js";

const NODE = "6f1c1b4e-8a7d-4a8e-9b55-0d1f2e3a4b5c";
const MAC = "52:54:00:ab:cd:01";

let dir: string;
let server: BootServer;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "boot-server-"));
  await writeFile(join(dir, "vmlinuz"), "kernel-bytes");
  await writeFile(join(dir, "initrd.img"), "initrd-bytes");
  server = await BootServer.start({ advertiseHost: "10.0.2.2", agentDir: dir });
});

after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

const get = (path: string, headers: Record<string, string> = {}) =>
  fetch(`${server.localUrl}${path}`, { headers });

/** One POST of the agent's protocol. */
async function post(node: string, event: string, token: string, body: unknown = {}) {
  const res = await fetch(`${server.localUrl}/agent/v1/${node}/${event}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

describe("iPXE scripts", () => {
  test("the generic script chains to the per-MAC script of the booting NIC", async () => {
    const res = await get("/boot/boot.ipxe");
    assert.equal(res.status, 200);
    assert.equal(
      await res.text(),
      `#!ipxe\nchain ${server.publicUrl}/boot/ipxe?mac=\${netX/mac} || exit\n`,
    );
  });

  test("a node without a plan exits to its next boot device", async () => {
    const text = await (await get("/boot/ipxe?mac=52:54:00:00:00:99")).text();
    assert.match(text, /^#!ipxe\n/);
    assert.match(text, /\nexit\n/);
    assert.doesNotMatch(text, /kernel/);
  });

  test("an agent plan boots the agent with callback, node and token; MACs are normalised", async () => {
    const token = newAgentToken();
    server.setNodeBoot(MAC.toUpperCase().replaceAll(":", "-"), {
      kind: "agent",
      nodeUuid: NODE,
      token,
    });
    const text = await (await get(`/boot/ipxe?mac=${MAC}`)).text();
    const kernel = text.split("\n").find((l) => l.startsWith("kernel "));
    assert.ok(kernel, text);
    assert.match(kernel, /^kernel http:\/\/10\.0\.2\.2:\d+\/boot\/agent\/vmlinuz /);
    assert.ok(kernel.includes(`mulligan.callback=${server.publicUrl}/agent/v1`));
    assert.ok(kernel.includes(`mulligan.node=${NODE}`));
    assert.ok(kernel.includes(`mulligan.token=${token}`));
    assert.match(text, /\ninitrd http:\/\/10\.0\.2\.2:\d+\/boot\/agent\/initrd\nboot\n/);
    server.setNodeBoot(MAC, { kind: "local" });
    assert.match(await (await get(`/boot/ipxe?mac=${MAC}`)).text(), /sanboot .*--drive 0x80/);
    server.setNodeBoot([MAC], undefined);
    assert.match(await (await get(`/boot/ipxe?mac=${MAC}`)).text(), /\nexit\n/);
  });

  test("a bad MAC is refused, and setNodeBoot rejects one", async () => {
    for (const mac of ["", "zz:54:00:ab:cd:01", "52:54:00:ab:cd", "52:54:00:ab:cd:01:02"])
      assert.equal((await get(`/boot/ipxe?mac=${encodeURIComponent(mac)}`)).status, 400, mac);
    assert.throws(() => server.setNodeBoot("nope", { kind: "local" }), /not a MAC/);
  });
});

describe("files", () => {
  test("the agent's kernel and initrd come from the agent directory", async () => {
    assert.equal(await (await get("/boot/agent/vmlinuz")).text(), "kernel-bytes");
    const res = await get("/boot/agent/initrd");
    assert.equal(res.headers.get("content-length"), "12");
    assert.equal(await res.text(), "initrd-bytes");
  });

  test("an image is served by its sha256, whole or by range; others are 404", async () => {
    const bytes = randomBytes(300_000);
    const path = join(dir, "image.raw");
    await writeFile(path, bytes);
    const sha = await sha256File(path);
    const url = server.publishImage(path, sha);
    assert.equal(url, `${server.publicUrl}/images/${sha}`);
    const whole = await get(`/images/${sha}`);
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get("content-length"), "300000");
    assert.ok(Buffer.from(await whole.arrayBuffer()).equals(bytes));
    const part = await get(`/images/${sha}`, { range: "bytes=1000-1999" });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get("content-range"), "bytes 1000-1999/300000");
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(1000, 2000)));
    assert.equal((await get(`/images/${sha}`, { range: "bytes=300000-" })).status, 416);
    assert.equal((await get(`/images/${"0".repeat(64)}`)).status, 404);
    server.unpublishImage(sha);
    assert.equal((await get(`/images/${sha}`)).status, 404);
  });

  test("ranges: suffix, open end, clamped end, unusable headers ignored", () => {
    assert.deepEqual(parseRange("bytes=-10", 100), [90, 99]);
    assert.deepEqual(parseRange("bytes=10-", 100), [10, 99]);
    assert.deepEqual(parseRange("bytes=10-500", 100), [10, 99]);
    assert.equal(parseRange("bytes=50-10", 100), "unsatisfiable");
    assert.equal(parseRange("bytes=0-1,5-6", 100), undefined);
    assert.equal(parseRange(undefined, 100), undefined);
  });

  test("a qcow2 image becomes a raw image with the raw bytes' checksum", async () => {
    const raw = join(dir, "src.raw");
    await writeFile(raw, Buffer.concat([randomBytes(65536), Buffer.alloc(1 << 20)]));
    const qcow = join(dir, "src.qcow2");
    execFileSync("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", raw, qcow]);
    const converted = await toRawImage(qcow, "qcow2", join(dir, "raw"));
    assert.equal(converted.sizeBytes, 65536 + (1 << 20));
    assert.equal(converted.sha256, await sha256File(raw));
    assert.notEqual(converted.sha256, await sha256File(qcow));
  });
});

describe("agent callbacks", () => {
  test("an unknown node, a wrong or missing token and a closed session all answer the same 401", async () => {
    const token = newAgentToken();
    const session = server.expectAgent(NODE, token);
    const refusals = [
      await post("0bd1c2e4-0000-4000-8000-000000000000", "hello", token),
      await post(NODE, "hello", newAgentToken()),
      await post(NODE, "hello", ""),
      await post(NODE, "hello", `${token}x`),
    ];
    for (const r of refusals) assert.deepEqual(r, { status: 401, body: { error: "unauthorized" } });
    assert.equal((await post(NODE, "reboot", token)).status, 404);
    session.close();
    assert.deepEqual(await post(NODE, "hello", token), refusals[0]);
  });

  test("happy path: hello, inspect, erase, deploy and poweroff through a protocol-exact agent", async () => {
    const token = newAgentToken();
    const progress: string[] = [];
    const session = server.expectAgent(NODE, token, (m) => progress.push(m));
    const hello = session.hello(5_000);
    const first = await post(NODE, "hello", token, { version: "1" });
    assert.deepEqual(first, { status: 200, body: { command: "wait" } });
    assert.deepEqual(await hello, { version: "1" });

    // The agent is waiting in a poll when the command is queued: it goes out at once.
    const poll = post(NODE, "poll", token);
    const inventory = session.inspect(5_000);
    const cmd = await poll;
    assert.deepEqual(cmd.body, { command: "inspect", id: 1 });
    const reported = {
      id: 1,
      cpus: 2,
      memory_mb: 512,
      arch: "x86_64",
      cpu_flags: "fpu sse sse2 pni",
      disks: [{ name: "vda", size_bytes: 1073741824 }],
      nics: [{ name: "eth0", mac: "52:54:00:AB:CD:01" }],
    };
    assert.deepEqual((await post(NODE, "inventory", token, reported)).body, { command: "wait" });
    assert.deepEqual(await inventory, {
      cpus: 2,
      memory_mb: 512,
      arch: "x86_64",
      cpu_flags: "fpu sse sse2 pni",
      disks: [{ name: "vda", size_bytes: 1073741824 }],
      nics: [{ name: "eth0", mac: "52:54:00:ab:cd:01" }],
    });

    // Queued before the agent polls: the next poll answers it without waiting.
    const erased = session.erase(["vda"], 5_000);
    assert.deepEqual((await post(NODE, "poll", token)).body, {
      command: "erase",
      disks: ["vda"],
      id: 2,
    });
    assert.equal(
      (await post(NODE, "progress", token, { id: 2, message: "erasing vda" })).status,
      200,
    );
    // A stale result (another id) is acknowledged and dropped.
    await post(NODE, "done", token, { id: 1, command: "inspect" });
    await post(NODE, "done", token, { id: 2, command: "erase", disks: ["vda"], seconds: 3 });
    assert.deepEqual(await erased, { disks: ["vda"], seconds: 3 });
    assert.deepEqual(progress, ["erasing vda"]);

    const sha = "a".repeat(64);
    const image = {
      url: `${server.publicUrl}/images/${sha}`,
      sha256: sha,
      sizeBytes: 42,
      disk: "vda",
    };
    const deployed = session.deploy(image, 5_000);
    const deploy = await post(NODE, "poll", token);
    assert.deepEqual(deploy.body, {
      command: "deploy",
      image_url: image.url,
      sha256: sha,
      size_bytes: 42,
      disk: "vda",
      id: 3,
    });
    await post(NODE, "done", token, {
      id: 3,
      command: "deploy",
      sha256: sha,
      size_bytes: 42,
      seconds: 1,
    });
    assert.deepEqual(await deployed, { disk: "vda", sha256: sha, size_bytes: 42, seconds: 1 });

    const off = session.poweroff(5_000);
    assert.equal((await post(NODE, "poll", token)).body.command, "poweroff");
    await post(NODE, "done", token, { id: 4, command: "poweroff" });
    await off;
    session.close();
  });

  test("failures: reported checksum mismatch, a lying agent, a silent agent, an abort, a restart", async () => {
    const token = newAgentToken();
    const session = server.expectAgent(NODE, token);
    await post(NODE, "hello", token, { version: "1" });
    const image = { url: "http://x/images/y", sha256: "b".repeat(64), sizeBytes: 1, disk: "vda" };

    // Each expectation is attached at once: the rejection comes while the agent is posting.
    const mismatch = assert.rejects(session.deploy(image, 5_000), {
      name: "AgentError",
      step: "deploy",
      reason: "IMAGE_CHECKSUM_MISMATCH",
    });
    const { body } = await post(NODE, "poll", token);
    await post(NODE, "failed", token, {
      id: body.id,
      step: "deploy",
      reason: "IMAGE_CHECKSUM_MISMATCH",
      message: "vda reads back as c…",
    });
    await mismatch;

    const lying = assert.rejects(session.deploy(image, 5_000), {
      reason: "IMAGE_CHECKSUM_MISMATCH",
    });
    const second = await post(NODE, "poll", token);
    await post(NODE, "done", token, { id: second.body.id, sha256: "c".repeat(64) });
    await lying;

    const unknown = assert.rejects(session.erase(["vda"], 5_000), (e: AgentError) => {
      assert.equal(e.reason, "AGENT_FAILED");
      assert.equal(e.step, "erase");
      assert.match(e.message, /DISK_ON_FIRE: smoke/);
      return true;
    });
    const third = await post(NODE, "poll", token);
    await post(NODE, "failed", token, {
      id: third.body.id,
      reason: "DISK_ON_FIRE",
      message: "smoke",
    });
    await unknown;

    await assert.rejects(session.inspect(200), { reason: "AGENT_TIMEOUT", step: "inspect" });
    const aborter = new AbortController();
    const aborted = session.inspect(5_000, aborter.signal);
    aborter.abort();
    await assert.rejects(aborted, { reason: "AGENT_ABORTED" });

    const restarted = assert.rejects(session.erase(["vda"], 5_000), {
      reason: "AGENT_FAILED",
      message: /restarted during erase/,
    });
    await post(NODE, "poll", token);
    await post(NODE, "hello", token, { version: "1" });
    await restarted;
    session.close();
  });

  test("an agent that never says hello times out as AGENT_TIMEOUT", async () => {
    const session = server.expectAgent(NODE, newAgentToken());
    await assert.rejects(session.hello(150), (e: unknown) => {
      assert.ok(e instanceof AgentError);
      assert.equal(e.reason, "AGENT_TIMEOUT");
      assert.equal(e.step, "hello");
      return true;
    });
    session.close();
  });
});

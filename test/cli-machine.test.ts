/**
 * The machine and image commands of the `mulligan` executable, spawned for real against a
 * bootstrapped server on both stores, with no executor and no providers: images are
 * registered from small temporary files (hashed by the CLI), and every machine goes ERROR
 * NO_CAPACITY at once, which is what `create --watch` reports with exit 7; delete --wait
 * ends DELETED. Bad input exits 2 (found by the CLI) or 3 (found by the server) naming the
 * field.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { exits, mulligan, type Run } from "./cli-helpers.js";
import { forEachStore } from "./harness.js";

type Json = Record<string, unknown>;

/** The run's stdout as JSON, after asserting it succeeded. */
function json<T = Json>(run: Run): T {
  exits(run, 0);
  return JSON.parse(run.stdout) as T;
}

/** The cells of every table row in `text` (borders dropped, trimmed). */
function cells(text: string): string[][] {
  return text
    .split("\n")
    .filter((line) => line.startsWith("│"))
    .map((line) =>
      line
        .split("│")
        .slice(1, -1)
        .map((cell) => cell.trim()),
    );
}

/** The table rows of a successful run's stdout. */
function rows(run: Run): string[][] {
  exits(run, 0);
  return cells(run.stdout);
}

/** A key/value table in `text` as key → value; continuation lines join with "\n". */
function pairsOf(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let last = "";
  for (const [key = "", value = ""] of cells(text)) {
    if (key !== "") last = key;
    out.set(last, key === "" ? `${out.get(last)}\n${value}` : value);
  }
  return out;
}

function pairs(run: Run): Map<string, string> {
  exits(run, 0);
  return pairsOf(run.stdout);
}

/** Asserts a failed run: the exit code, one error line matching `line`, nothing on stdout. */
function fails(run: Run, code: number, line: RegExp): void {
  exits(run, code);
  assert.match(run.stderr, line);
  assert.equal(run.stderr.split("\n").length, 2, `one line: ${run.stderr}`);
  assert.equal(run.stdout, "");
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

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

forEachStore("mulligan machine and image commands", (srv) => {
  const config = mkdtempSync(join(tmpdir(), "mulligan-cli-"));
  const files = mkdtempSync(join(tmpdir(), "mulligan-img-"));
  const kernel = Buffer.from("not really a kernel\n".repeat(500));
  const initrd = Buffer.from("not really an initrd\n".repeat(300));
  writeFileSync(join(files, "vmlinuz"), kernel);
  writeFileSync(join(files, "initrd.img"), initrd);
  /** Runs a command as the bootstrap admin, server and token given as flags. */
  const cli = (...args: string[]) =>
    mulligan(config, ["--server", srv().url, "--token", srv().admin.token, ...args]);
  after(() => {
    rmSync(config, { recursive: true, force: true });
    rmSync(files, { recursive: true, force: true });
  });

  it("image add (kernel, hashed by the CLI) / list / show", async () => {
    const added = json(
      await cli(
        "image",
        "add",
        "tiny",
        "--kernel",
        join(files, "vmlinuz"),
        "--initrd",
        join(files, "initrd.img"),
        "--cmdline",
        "console=ttyS0",
        "--boot-marker",
        "READY$",
        "-o",
        "json",
      ),
    );
    assert.equal(added.name, "tiny");
    assert.equal(added.projectUuid, "");
    assert.deepEqual(added.kernel, {
      kernel: join(files, "vmlinuz"),
      kernelSha256: sha256(kernel),
      initrd: join(files, "initrd.img"),
      initrdSha256: sha256(initrd),
      cmdline: "console=ttyS0",
    });
    assert.equal(added.bootMarker, "READY$");

    const list = rows(await cli("image", "list"));
    assert.deepEqual(list[0], ["NAME", "KIND", "FORMAT", "PROJECT", "SOURCE", "UUID"]);
    assert.deepEqual(list[1], [
      "tiny",
      "kernel",
      "",
      "(fleet)",
      join(files, "vmlinuz"),
      added.uuid,
    ]);
    assert.deepEqual(list[2], ["", "", "", "", join(files, "initrd.img"), ""]);

    const shown = pairs(await cli("image", "show", "tiny"));
    assert.equal(shown.get("uuid"), added.uuid);
    assert.equal(shown.get("kind"), "kernel");
    assert.equal(shown.get("kernel sha256"), sha256(kernel));
    assert.equal(shown.get("initrd sha256"), sha256(initrd));
    assert.equal(shown.get("boot marker"), "READY$");
    assert.deepEqual(json(await cli("image", "show", String(added.uuid), "-o", "json")), added);
  });

  it("image add (disk) / delete, and its bad input", async () => {
    const url = "https://images.example/jammy.qcow2";
    fails(
      await cli("image", "add", "jammy", "--disk", url, "--format", "qcow2"),
      2,
      /^error: --sha256 is required for a URL source\n/,
    );
    fails(
      await cli("image", "add", "jammy", "--disk", url, "--format", "vhd", "--sha256", "0"),
      2,
      /--format "vhd" is not one of qcow2, raw/,
    );
    fails(
      await cli("image", "add", "jammy", "--kernel", join(files, "vmlinuz")),
      2,
      /give --disk PATH_OR_URL --format F, or --kernel PATH --initrd PATH/,
    );
    fails(
      await cli("image", "add", "jammy", "--kernel", join(files, "nope"), "--initrd", "x"),
      2,
      /^error: --kernel .*nope: ENOENT/,
    );
    const hex = "ab".repeat(32);
    const disk = json(
      await cli(
        "image",
        "add",
        "jammy",
        "--disk",
        url,
        "--format",
        "qcow2",
        "--sha256",
        hex,
        "-o",
        "json",
      ),
    );
    assert.deepEqual(disk.disk, { source: url, format: "IMAGE_FORMAT_QCOW2", sha256: hex });
    fails(
      await cli("image", "add", "jammy", "--disk", url, "--format", "raw", "--sha256", hex),
      5,
      /^error: ALREADY_EXISTS /,
    );
    const deleted = await cli("image", "delete", "jammy");
    exits(deleted, 0);
    assert.equal(deleted.stdout, "deleted image jammy\n");
    fails(await cli("image", "show", "jammy"), 4, /^error: NOT_FOUND IMAGE_NOT_FOUND/);
  });

  it("machine create: nothing can take it, so it is ERROR NO_CAPACITY", async () => {
    const m = pairs(await cli("machine", "create", "vm-1", "--image", "tiny", "--vcpus", "2"));
    assert.equal(m.get("name"), "vm-1");
    assert.equal(m.get("state"), "ERROR");
    assert.equal(m.get("failed step"), "schedule");
    assert.equal(m.get("reason"), "NO_CAPACITY");
    assert.match(m.get("message") ?? "", /^no host can take the machine/);
    assert.equal(m.get("image"), "tiny");
    assert.equal(m.get("project"), srv().admin.projectName);
    assert.equal(m.get("resources"), "DISK_GB=1, MEMORY_MB=256, VCPU=2");
  });

  it("machine create --same-rack-as / --different-row-from: the spec keeps the constraints", async () => {
    const anchor = json(await cli("machine", "show", "vm-1", "-o", "json"));
    const uuid = String(anchor.uuid);
    const doc = json(
      await cli(
        ...["machine", "create", "vm-d", "--image", "tiny", "-o", "json"],
        ...["--same-rack-as", uuid, "--different-row-from", uuid],
      ),
    );
    assert.deepEqual((doc.spec as Json).distance, [
      { relation: "RELATION_SAME", level: "GROUP_LEVEL_RACK", consumers: [uuid] },
      { relation: "RELATION_DIFFERENT", level: "GROUP_LEVEL_ROW", consumers: [uuid] },
    ]);
    fails(
      await cli("machine", "create", "vm-x", "--image", "tiny", "--same-rack-as", "vm-1"),
      2,
      /^error: --same-rack-as "vm-1" must be a consumer UUID/,
    );
    exits(await cli("machine", "delete", "vm-d"), 0);
  });

  it("machine create --watch prints the events and exits 7 on ERROR", async () => {
    const run = await cli("machine", "create", "vm-2", "--image", "tiny", "--watch");
    exits(run, 7);
    assert.deepEqual(
      events(run.stdout).map(([state, step]) => [state, step]),
      [
        ["PENDING", "accept"],
        ["ERROR", "schedule"],
      ],
    );
    assert.match(
      events(run.stdout)[1]?.[2] ?? "",
      /no host can take the machine.*\[NO_CAPACITY\]$/,
    );
    const m = pairsOf(run.stdout);
    assert.equal(m.get("state"), "ERROR");
    assert.equal(m.get("reason"), "NO_CAPACITY");
    assert.match(run.stderr, /^error: machine vm-2 is ERROR: NO_CAPACITY at step schedule: /);
    assert.equal(run.stderr.split("\n").length, 2, run.stderr);

    // With -o json stdout is one document; the events go to stderr.
    const js = await cli("machine", "create", "vm-3", "--image", "tiny", "--watch", "-o", "json");
    exits(js, 7);
    const doc = JSON.parse(js.stdout) as Json;
    assert.equal(doc.state, "MACHINE_STATE_ERROR");
    assert.equal(doc.reason, "NO_CAPACITY");
    assert.equal(events(js.stderr).length, 2);
  });

  it("machine list / show / console", async () => {
    const list = rows(await cli("machine", "list"));
    assert.deepEqual(list[0], [
      "NAME",
      "STATE",
      "HOST",
      "IMAGE",
      "VCPU",
      "MEMORY",
      "PROJECT",
      "UUID",
    ]);
    assert.deepEqual(
      list.slice(1).map((r) => r.slice(0, 7)),
      [
        ["vm-1", "ERROR", "", "tiny", "2", "256 MB", srv().admin.projectName],
        ["vm-2", "ERROR", "", "tiny", "1", "256 MB", srv().admin.projectName],
        ["vm-3", "ERROR", "", "tiny", "1", "256 MB", srv().admin.projectName],
      ],
    );
    assert.equal(rows(await cli("machine", "list", "--state", "active")).length, 1);
    const errors = json<Json[]>(await cli("machine", "list", "--state", "error", "-o", "json"));
    assert.deepEqual(
      errors.map((m) => m.name),
      ["vm-1", "vm-2", "vm-3"],
    );

    const shown = pairs(await cli("machine", "show", "vm-1"));
    assert.equal(shown.get("uuid"), list[1]?.[7]);
    assert.equal(shown.get("reason"), "NO_CAPACITY");
    assert.equal(shown.get("attempts"), "");
    assert.equal(shown.get("allocations"), "");
    const byUuid = json(await cli("machine", "show", list[1]?.[7] ?? "", "-o", "json"));
    assert.equal(byUuid.name, "vm-1");
    assert.equal(byUuid.failedStep, "schedule");

    const console = await cli("machine", "console", "vm-1");
    exits(console, 0);
    assert.equal(console.stdout, "");
    fails(await cli("machine", "show", "nope"), 4, /^error: NOT_FOUND MACHINE_NOT_FOUND/);
  });

  it("image delete is refused while a machine uses the image", async () => {
    fails(await cli("image", "delete", "tiny"), 7, /^error: FAILED_PRECONDITION IMAGE_IN_USE/);
  });

  it("machine delete --wait ends DELETED", async () => {
    const run = await cli("machine", "delete", "vm-1", "--wait");
    exits(run, 0);
    assert.deepEqual(events(run.stdout), [["DELETED", "teardown", "deleted"]]);
    assert.match(run.stdout, /\ndeleted machine vm-1\n$/);
    const plain = await cli("machine", "delete", "vm-2", "-o", "json");
    assert.equal(json(plain).state, "MACHINE_STATE_DELETED");
    exits(await cli("machine", "delete", "vm-3"), 0);
    assert.equal(rows(await cli("machine", "list")).length, 1);
    const all = json<Json[]>(await cli("machine", "list", "--all", "-o", "json"));
    assert.deepEqual(
      all.map((m) => [m.name, m.state]),
      [
        ["vm-1", "MACHINE_STATE_DELETED"],
        ["vm-2", "MACHINE_STATE_DELETED"],
        ["vm-3", "MACHINE_STATE_DELETED"],
        ["vm-d", "MACHINE_STATE_DELETED"],
      ],
    );
    const deleted = await cli("image", "delete", "tiny");
    exits(deleted, 0);
  });

  it("bad input exits 2 (the CLI) or 3 (the server) and names the field", async () => {
    fails(
      await cli("machine", "create", "vm-x", "--image", "tiny", "--vcpus", "0"),
      2,
      /^error: --vcpus must be at least 1\n/,
    );
    fails(
      await cli("machine", "create", "vm-x", "--image", "tiny", "--resource", "VCPU=2"),
      2,
      /^error: --resource VCPU: give it as --vcpus\n/,
    );
    fails(
      await cli("machine", "create", "vm-x", "--image", "tiny", "--require", "lower"),
      2,
      /^error: --require "lower" is not a capability name/,
    );
    fails(
      await cli("machine", "list", "--state", "sideways"),
      2,
      /^error: --state "sideways" is not one of pending, /,
    );
    fails(
      await cli("machine", "create", "bad_name", "--image", "tiny"),
      3,
      /^error: INVALID_ARGUMENT NAME_INVALID \(field spec\.name\): /,
    );
    exits(await cli("machine", "create", "vm-x"), 2);
  });
});

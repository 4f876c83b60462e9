/**
 * `mulligan node …` and `machine create --kind baremetal` through the real executable, on both
 * stores (no conductor runs: the node stays VERIFYING, which is what the refusals need): the
 * BMC password comes from a file or MULLIGAN_BMC_PASSWORD and is never printed, table and JSON
 * output, and each refusal's exit code and one-line reason.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { exits, mulligan, type Run } from "./cli-helpers.js";
import { forEachStore } from "./harness.js";

const PASSWORD = "cli-Bmc-Password-1";

function fails(run: Run, code: number, line: RegExp): void {
  exits(run, code);
  assert.match(run.stderr, line);
  assert.equal(run.stdout, "");
}

forEachStore("mulligan node commands", (srv) => {
  const config = mkdtempSync(join(tmpdir(), "mulligan-cli-node-"));
  const passwordFile = join(config, "bmc.pw");
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    mulligan(config, ["--server", srv().url, "--token", srv().admin.token, ...args], "", env);
  const enroll = (name: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}) =>
    cli(
      [
        "node",
        "enroll",
        name,
        "--region",
        "lab",
        "--driver",
        "ipmi",
        "--address",
        "10.1.0.21",
        "--username",
        "admin",
        "--mac",
        "52:54:00:12:34:56",
        "--flavor",
        "small",
        ...extra,
      ],
      env,
    );
  before(async () => {
    writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    await srv().meta().createRegion({ name: "lab" });
  });
  after(() => rmSync(config, { recursive: true, force: true }));

  it("enroll reads the password from a file or the environment and never prints it", async () => {
    const run = await enroll("bm-1", ["--password-file", passwordFile, "-o", "json"]);
    exits(run, 0);
    assert.ok(!run.stdout.includes(PASSWORD));
    const node = JSON.parse(run.stdout) as Record<string, unknown>;
    assert.equal(node.state, "NODE_STATE_VERIFYING");
    assert.equal(node.resourceClass, "CUSTOM_BAREMETAL_SMALL");
    const byEnv = await enroll("bm-2", [], { MULLIGAN_BMC_PASSWORD: PASSWORD });
    exits(byEnv, 0);
    assert.match(byEnv.stdout, /│ state +│ VERIFYING/);
    assert.ok(!byEnv.stdout.includes(PASSWORD));
    fails(await enroll("bm-3"), 2, /MULLIGAN_BMC_PASSWORD/);
    fails(
      await enroll("bm-4", ["--password-file", passwordFile, "--mac", "nope"]),
      3,
      /MAC_INVALID/,
    );
  });

  it("list and show; the password is shown nowhere", async () => {
    const list = await cli(["node", "list"]);
    exits(list, 0);
    assert.match(list.stdout, /│ bm-1 +│ VERIFYING +│/);
    assert.match(list.stdout, /│ bm-2 +│ VERIFYING +│/);
    const show = await cli(["node", "show", "bm-1"]);
    exits(show, 0);
    assert.match(show.stdout, /│ bmc +│ ipmi admin@10\.1\.0\.21:623/);
    assert.match(show.stdout, /│ inventory +│ \(not inspected\)/);
    assert.ok(!`${list.stdout}${show.stdout}`.includes(PASSWORD));
  });

  it("refusals: a busy node, maintenance without a reason, a bare-metal machine without flavor", async () => {
    fails(await cli(["node", "clean", "bm-1"]), 7, /NODE_STATE_INVALID/);
    fails(await cli(["node", "delete", "bm-1"]), 7, /NODE_BUSY/);
    fails(await cli(["node", "maintenance", "bm-1", "on"]), 3, /FIELD_REQUIRED.*reason/);
    const on = await cli(["node", "maintenance", "bm-1", "on", "--reason", "fan swap"]);
    exits(on, 0);
    assert.match(on.stdout, /│ maintenance +│ yes \(fan swap\)/);
    fails(await cli(["node", "inspect", "bm-1"]), 7, /NODE_IN_MAINTENANCE/);
    fails(
      await cli(["machine", "create", "m-1", "--kind", "baremetal", "--image", "x"]),
      2,
      /--flavor/,
    );
  });
});

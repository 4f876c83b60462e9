/**
 * Any standard gRPC client can use Mulligan: a Python script on Debian's python3-grpcio and
 * python3-protobuf, with message classes built at run time from `buf build`'s descriptor set,
 * authenticates and lists regions. A machine without those packages fails this test with what
 * to install; it never skips.
 */
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, it } from "node:test";
import { forEachStore } from "./harness.js";

const ROOT = join(import.meta.dirname, "..");
const SCRIPT = join(import.meta.dirname, "clients", "list_regions.py");

/** The first python3 that can import grpc (a pyenv shim on PATH may lack Debian's packages). */
function findPython(): string {
  const candidates = [process.env.MULLIGAN_PYTHON, "python3", "/usr/bin/python3"].filter(
    (c): c is string => Boolean(c),
  );
  for (const python of candidates) {
    const probe = spawnSync(python, ["-c", "import grpc, google.protobuf"], { stdio: "ignore" });
    if (probe.status === 0) return python;
  }
  assert.fail(
    `no python3 can import grpc (tried ${candidates.join(", ")}): ` +
      "install python3-grpcio python3-protobuf (apt-get install python3-grpcio python3-protobuf)",
  );
}

let python = "";
let descriptorSet = "";

before(() => {
  python = findPython();
  descriptorSet = join(mkdtempSync(join(tmpdir(), "mulligan-py-")), "set.binpb");
  const build = spawnSync(
    join(ROOT, "node_modules", ".bin", "buf"),
    ["build", "-o", descriptorSet],
    {
      cwd: ROOT,
      encoding: "utf8",
    },
  );
  assert.equal(build.status, 0, `buf build failed: ${build.stderr}`);
});

forEachStore("python client", (server) => {
  it("authenticates and lists regions with python3-grpcio", async () => {
    const s = server();
    const name = "python-region";
    await s
      .meta()
      .createRegion({ requestId: "req-python-region", name, description: "for python" });
    const target = new URL(s.url).host;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        python,
        [SCRIPT, target, descriptorSet, s.admin.accountName, s.admin.secret, s.admin.projectName],
        { timeout: 60_000 },
        (err, stdout, stderr) =>
          err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
      ),
    );
    const result = JSON.parse(out) as {
      token_received: boolean;
      regions: { name: string; description?: string; uuid: string }[];
      without_token: string;
    };
    assert.equal(result.token_received, true);
    const region = result.regions.find((r) => r.name === name);
    assert.ok(region, out);
    assert.equal(region.description, "for python");
    assert.match(region.uuid, /^[0-9a-f-]{36}$/);
    assert.equal(result.without_token, "UNAUTHENTICATED");
  });
});

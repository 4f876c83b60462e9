/**
 * `npm run build` and the `mulligan` executable's choice of entry point: a current build in
 * dist/ is what runs, a build older than the sources is not (the sources run through tsx, with a
 * warning), and MULLIGAN_FROM_SOURCE forces the sources. The build goes to a copy of the layout
 * under .cache/ (bin/ copied, src/ linked), so the checkout's own dist/ is never touched.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { appendFile, copyFile, mkdir, mkdtemp, rm, symlink, utimes } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

const ROOT = join(import.meta.dirname, "..");
const run = promisify(execFile);
let copy: string;

before(async () => {
  await mkdir(join(ROOT, ".cache"), { recursive: true });
  copy = await mkdtemp(join(ROOT, ".cache", "build-test-"));
  await mkdir(join(copy, "bin"));
  await copyFile(join(ROOT, "bin", "mulligan.mjs"), join(copy, "bin", "mulligan.mjs"));
  await symlink(join(ROOT, "src"), join(copy, "src"));
  await run(process.execPath, [
    join(ROOT, "scripts", "build.mjs"),
    "--out-dir",
    join(copy, "dist"),
  ]);
  // A mark only the compiled entry prints, to tell which one ran.
  await appendFile(join(copy, "dist", "cli", "main.js"), '\nconsole.error("ran dist/");\n');
});

after(async () => {
  if (copy) await rm(copy, { recursive: true, force: true });
});

async function mulligan(env: Record<string, string> = {}) {
  const { stdout, stderr } = await run(
    process.execPath,
    [join(copy, "bin", "mulligan.mjs"), "--help"],
    {
      env: { ...process.env, ...env },
    },
  );
  assert.match(stdout, /Usage: mulligan/, "the CLI answered");
  return stderr;
}

test("a current build is what runs", async () => {
  const stderr = await mulligan();
  assert.match(stderr, /ran dist\//, stderr);
  assert.doesNotMatch(stderr, /older than src/, stderr);
});

test("MULLIGAN_FROM_SOURCE runs the sources even with a current build", async () => {
  const stderr = await mulligan({ MULLIGAN_FROM_SOURCE: "1" });
  assert.doesNotMatch(stderr, /ran dist\//, stderr);
});

test("a build older than the sources is not run, and the operator is told", async () => {
  await utimes(join(copy, "dist", "BUILT"), 0, 0);
  const stderr = await mulligan();
  assert.doesNotMatch(stderr, /ran dist\//, stderr);
  assert.match(stderr, /dist\/ is older than src\/.*npm run build/, stderr);
});

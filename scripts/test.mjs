#!/usr/bin/env node
// Runs the whole test suite: every *.test.ts under src/ and test/, through tsx, with Node's
// test runner (Node 20's --test does not expand globs, so the file list is built here).
// Arguments are passed on: `npm test -- test/iam.test.ts` runs one file.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function find(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) find(path, out);
    else if (name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

const args = process.argv.slice(2);
const files = args.filter((a) => !a.startsWith("-"));
const flags = args.filter((a) => a.startsWith("-"));
const list = files.length > 0 ? files : [...find("src"), ...find("test")].sort();
const result = spawnSync(
  process.execPath,
  [
    "--enable-source-maps",
    "--import",
    "tsx",
    "--import",
    "./test/preload-assert.mjs",
    "--test",
    "--test-concurrency=2",
    "--test-timeout=300000",
    ...flags,
    ...list,
  ],
  { stdio: "inherit" },
);
process.exit(result.status ?? 1);

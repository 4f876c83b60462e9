#!/usr/bin/env node
// The `mulligan` executable. It runs the compiled entry point in dist/ when `npm run build` made
// one that is current (no source file under src/ newer than dist/BUILT), and otherwise the
// TypeScript sources through tsx, so a fresh checkout works without a build and a stale build
// never runs old code.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");

/** The newest modification time of a non-test .ts file under `dir`, in ms. */
function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts"))
      newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function currentBuild() {
  try {
    const built = statSync(join(root, "dist", "BUILT")).mtimeMs;
    if (newestSource(join(root, "src")) <= built) return join(root, "dist", "cli", "main.js");
    process.stderr.write(
      "mulligan: dist/ is older than src/, running the sources (npm run build refreshes it)\n",
    );
  } catch {
    // no build: run the sources
  }
  return undefined;
}

const compiled = process.env.MULLIGAN_FROM_SOURCE ? undefined : currentBuild();
if (compiled) {
  await import(compiled);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../src/cli/main.ts");
}

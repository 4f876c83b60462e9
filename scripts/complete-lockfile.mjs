#!/usr/bin/env node
// Adds lockfile records for optional platform packages that the registry mirror does not serve
// (e.g. @biomejs/cli-darwin-arm64). `npm install` leaves them out, and `npm ci` then refuses the
// lockfile as out of sync (npm/cli#9846). Each record carries the package's os/cpu (and libc),
// so `npm ci` skips it on other platforms without fetching it. Run after `npm install`.
import { readFileSync, writeFileSync } from "node:fs";

const path = "package-lock.json";
const lock = JSON.parse(readFileSync(path, "utf8"));
const packages = lock.packages;

/** os, cpu and libc of a platform package, read from its name. */
function platformOf(name) {
  const os = ["android", "darwin", "freebsd", "linux", "openbsd", "sunos", "win32", "aix"].find(
    (o) => name.includes(`-${o}-`),
  );
  const cpuNames = {
    aarch64: "arm64",
    arm64: "arm64",
    x64: "x64",
    armv7: "arm",
    arm: "arm",
    ia32: "ia32",
  };
  const cpuKey = Object.keys(cpuNames).find((c) => new RegExp(`-${c}(-|$)`).test(name));
  const record = {};
  if (os) record.os = [os];
  if (cpuKey) record.cpu = [cpuNames[cpuKey]];
  if (os === "linux") record.libc = [name.includes("musl") ? "musl" : "glibc"];
  return record;
}

let added = 0;
for (const [key, pkg] of Object.entries(packages)) {
  for (const [dep, version] of Object.entries(pkg.optionalDependencies ?? {})) {
    const at = `node_modules/${dep}`;
    if (packages[at]) continue;
    packages[at] = { version, dev: pkg.dev ?? undefined, optional: true, ...platformOf(dep) };
    added++;
    if (!packages[at].os) console.warn(`${dep} (from ${key}): no platform in its name`);
  }
}
const sorted = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a < b ? -1 : 1)),
);
lock.packages = sorted;
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`added ${added} optional platform records`);

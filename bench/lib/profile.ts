/**
 * Where a server's time went: reads a V8 .cpuprofile (written by servers started with
 * MULLIGAN_BENCH_PROFILE=DIR, see bench/lib/server.ts) and lists the functions with the most
 * self time, and the source files with the most self time. `npm run bench -- profile FILE [N]`.
 */
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { REPO_ROOT } from "./server.js";
import { formatTable, round } from "./stats.js";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** A table of the top `n` functions and files by self time. */
export function profileSummary(path: string, n = 25): string {
  const profile = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0) || 1;
  const fns = new Map<string, number>();
  const files = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    const file = frame?.url ? shortUrl(frame.url) : "(native)";
    const fn = `${frame?.functionName || "(anonymous)"} ${file}:${(frame?.lineNumber ?? 0) + 1}`;
    fns.set(fn, (fns.get(fn) ?? 0) + us);
    files.set(file, (files.get(file) ?? 0) + us);
  }
  const top = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, us]) => [round(us / 1000, 1), round((100 * us) / total, 1), k]);
  return [
    `total sampled: ${round(total / 1e6, 2)} s`,
    formatTable(["self_ms", "pct", "function"], top(fns)),
    "",
    formatTable(["self_ms", "pct", "file"], top(files)),
  ].join("\n");
}

function shortUrl(url: string): string {
  const path = url.replace(/^file:\/\//, "");
  return path.startsWith(REPO_ROOT) ? relative(REPO_ROOT, path) : path;
}

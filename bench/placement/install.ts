/**
 * Makes sure Debian's OpenStack Placement and what the bench runs it with are installed:
 * `placement-api` (8.0.0 on bookworm; pulls python3-placement and placement-common), `uwsgi`
 * with its Python 3 plugin, and `python3-psycopg2` for the PostgreSQL variant. Missing packages
 * are installed with apt-get (as root), saying so on stderr; anything else fails with what to do.
 */
import { execFileSync, spawnSync } from "node:child_process";

/** The packages the bench needs. */
export const PLACEMENT_PACKAGES = [
  "placement-api",
  "uwsgi",
  "uwsgi-plugin-python3",
  "python3-psycopg2",
] as const;

function installed(pkg: string): boolean {
  const r = spawnSync("dpkg-query", ["-W", `-f=\${Status}`, pkg], { encoding: "utf8" });
  return r.status === 0 && r.stdout.includes("install ok installed");
}

function aptGet(args: string[]): { ok: boolean; output: string } {
  process.stderr.write(`placement: apt-get ${args.join(" ")}\n`);
  const r = spawnSync("apt-get", args, {
    encoding: "utf8",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    maxBuffer: 64 * 1024 * 1024,
  });
  return { ok: r.status === 0, output: `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ?? ""}` };
}

/** Installs whatever of PLACEMENT_PACKAGES is missing (apt-get update first if needed). */
export function ensurePlacementInstalled(): void {
  const missing = PLACEMENT_PACKAGES.filter((p) => !installed(p));
  if (missing.length === 0) return;
  process.stderr.write(`placement: installing Debian packages ${missing.join(", ")}\n`);
  const install = ["install", "-y", "--no-install-recommends", ...missing];
  let r = aptGet(install);
  if (!r.ok) {
    aptGet(["update"]);
    r = aptGet(install);
  }
  const still = missing.filter((p) => !installed(p));
  if (!r.ok || still.length > 0)
    throw new Error(
      `could not install ${still.join(", ") || missing.join(", ")} with apt-get ` +
        `(run as root on Debian bookworm: apt-get update && apt-get install -y ${missing.join(" ")}):\n` +
        r.output.slice(-2000),
    );
}

/** The installed placement-api package version, e.g. "8.0.0-2". */
export function placementPackageVersion(): string {
  return execFileSync("dpkg-query", ["-W", `-f=\${Version}`, "placement-api"], {
    encoding: "utf8",
  }).trim();
}

/**
 * The guest's NoCloud config drive: an ISO9660 volume labelled `cidata` holding `meta-data`
 * (instance-id, local-hostname, public-keys) and `user-data`, which cloud-init (and the test
 * guest's /init) reads at boot. Built with genisoimage into a temp file renamed into place, so
 * a crash never leaves a half-written ISO that a retry would take as done.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { GuestError, type GuestSpec } from "../vm-driver.js";

const run = promisify(execFile);

/** The step name config-drive failures and progress are reported under. */
export const CONFIG_DRIVE_STEP = "config-drive";

/**
 * NoCloud meta-data as YAML. Every scalar is written as a JSON string, which YAML reads
 * unchanged, so a key comment or host name can never break the document.
 */
export function renderMetaData(spec: GuestSpec): string {
  const lines = [
    `instance-id: ${JSON.stringify(spec.uuid)}`,
    `local-hostname: ${JSON.stringify(spec.hostname)}`,
  ];
  if (spec.sshKeys.length > 0) {
    lines.push("public-keys:");
    for (const key of spec.sshKeys) lines.push(`  - ${JSON.stringify(key.trim())}`);
  }
  return `${lines.join("\n")}\n`;
}

/** Writes the config drive of `spec` to `isoPath` (replacing any previous one). */
export async function buildConfigDrive(
  spec: GuestSpec,
  isoPath: string,
  genisoimage = "genisoimage",
): Promise<void> {
  const work = await mkdtemp(join(dirname(isoPath), ".config-drive-"));
  try {
    await writeFile(join(work, "meta-data"), renderMetaData(spec));
    await writeFile(join(work, "user-data"), spec.userData);
    const tmp = join(work, "config.iso");
    await run(genisoimage, [
      "-quiet",
      "-output",
      tmp,
      "-volid",
      "cidata",
      "-joliet",
      "-rock",
      join(work, "meta-data"),
      join(work, "user-data"),
    ]);
    await rename(tmp, isoPath);
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT" && e.path === genisoimage) {
      throw new GuestError(
        CONFIG_DRIVE_STEP,
        "CONFIG_DRIVE_TOOL_MISSING",
        `${genisoimage} not found (apt-get install genisoimage)`,
        true,
      );
    }
    throw new GuestError(
      CONFIG_DRIVE_STEP,
      "CONFIG_DRIVE_FAILED",
      `building the config drive failed: ${(e.stderr ?? e.message).trim()}`,
      true,
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * One run of `ipmitool -I lanplus` against one BMC. The password reaches ipmitool through a
 * file (`-f`) in a private temporary directory (mode 0700, file 0600), removed when the run
 * ends: argv is world-readable in /proc, so the password never goes there. A run that exceeds
 * its timeout is killed. Failures become BmcErrors with a stable reason: ipmitool's `-v`
 * output names a refused login ("RAKP 2 HMAC is invalid", "unauthorized name"), which is told
 * apart from a BMC that does not answer.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BmcEndpoint, BmcError } from "../bmc-driver.js";

/** The lanplus cipher suite used when the endpoint names none (3: HMAC-SHA1, AES-CBC-128). */
export const DEFAULT_CIPHER_SUITE = 3;

/** What one ipmitool run printed. */
export interface IpmitoolResult {
  stdout: string;
  stderr: string;
}

/** The ipmitool argv for `command`, without any secret (the password file path only). */
export function ipmitoolArgs(endpoint: BmcEndpoint, passwordFile: string, command: string[]) {
  return [
    "-I",
    "lanplus",
    "-C",
    String(endpoint.cipherSuite ?? DEFAULT_CIPHER_SUITE),
    "-H",
    endpoint.address,
    "-p",
    String(endpoint.port),
    "-U",
    endpoint.username,
    "-f",
    passwordFile,
    // ipmitool's own retransmission: one resend after 1 s; the driver retries on top of it.
    "-N",
    "1",
    "-R",
    "2",
    "-v",
    ...command,
  ];
}

/** Runs `ipmitool <command>` once; throws BmcError on any failure. */
export async function runIpmitool(
  endpoint: BmcEndpoint,
  command: string[],
  timeoutMs: number,
  options: { binary?: string; signal?: AbortSignal } = {},
): Promise<IpmitoolResult> {
  const dir = await mkdtemp(join(tmpdir(), "mulligan-ipmi-"));
  try {
    const passwordFile = join(dir, "password");
    await writeFile(passwordFile, endpoint.password, { mode: 0o600 });
    return await spawnIpmitool(
      options.binary ?? "ipmitool",
      ipmitoolArgs(endpoint, passwordFile, command),
      timeoutMs,
      command.join(" "),
      options.signal,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function spawnIpmitool(
  binary: string,
  args: string[],
  timeoutMs: number,
  what: string,
  signal?: AbortSignal,
): Promise<IpmitoolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    const onAbort = () => child.kill("SIGKILL");
    signal?.addEventListener("abort", onAbort, { once: true });
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.once("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      reject(
        error.code === "ENOENT"
          ? new BmcError(
              "BMC_TOOL_MISSING",
              `${binary} not found: install the Debian package ipmitool`,
            )
          : new BmcError("BMC_PROTOCOL_ERROR", `${binary}: ${error.message}`),
      );
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      if (signal?.aborted) reject(signal.reason);
      else if (timedOut) {
        reject(new BmcError("BMC_TIMEOUT", `ipmitool ${what}: no answer within ${timeoutMs} ms`));
      } else if (code === 0) resolve({ stdout, stderr });
      else reject(classifyFailure(what, `${stdout}\n${stderr}`));
    });
  });
}

/** Turns ipmitool's complaint into a reason: refused login, no answer, or anything else. */
export function classifyFailure(what: string, output: string): BmcError {
  if (/RAKP 2 HMAC is invalid|unauthorized name|invalid (user ?name|password)/i.test(output)) {
    return new BmcError(
      "AUTH_FAILED",
      "the BMC refused the login: wrong username or password (IPMI RAKP authentication failed)",
    );
  }
  if (/insufficient privilege|requested maximum privilege level/i.test(output)) {
    return new BmcError("AUTH_FAILED", "the BMC refused the privilege level for this user");
  }
  if (/Unable to establish|No response|timeout|Connection refused|Get Session/i.test(output)) {
    return new BmcError("BMC_UNREACHABLE", `ipmitool ${what}: the BMC did not answer`);
  }
  const lastLine =
    output
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith(">") && !l.startsWith("Loading"))
      .pop() ?? "(no output)";
  return new BmcError("BMC_PROTOCOL_ERROR", `ipmitool ${what}: ${lastLine}`);
}

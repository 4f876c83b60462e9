/**
 * The login store: the server, account, project and token of the last `mulligan login` (or
 * `mulligan bootstrap`), in $XDG_CONFIG_HOME/mulligan/credentials.json (default
 * ~/.config/mulligan; MULLIGAN_CONFIG_DIR overrides the directory). The token is a secret: the
 * directory is created 0700 and the file written 0600.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export interface StoredLogin {
  /** Base URL of the server the token is for. */
  server: string;
  account: string;
  /** The project the token is scoped to; empty for a token without project. */
  project: string;
  token: string;
  /** ISO-8601 time the token expires; empty if unknown. */
  expiry: string;
}

/** The directory holding the login store. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MULLIGAN_CONFIG_DIR) return env.MULLIGAN_CONFIG_DIR;
  const base = env.XDG_CONFIG_HOME || join(homedir(), ".config");
  return join(base, "mulligan");
}

/** The path of the credentials file. */
export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), "credentials.json");
}

/** The stored login, or undefined when there is none (or the file is unreadable JSON). */
export function readLogin(env: NodeJS.ProcessEnv = process.env): StoredLogin | undefined {
  let text: string;
  try {
    text = readFileSync(credentialsPath(env), "utf8");
  } catch {
    return undefined;
  }
  try {
    const doc = JSON.parse(text) as Partial<StoredLogin>;
    if (typeof doc.server !== "string" || typeof doc.token !== "string") return undefined;
    return {
      server: doc.server,
      account: String(doc.account ?? ""),
      project: String(doc.project ?? ""),
      token: doc.token,
      expiry: String(doc.expiry ?? ""),
    };
  } catch {
    return undefined;
  }
}

/** Replaces the stored login atomically; the file is never readable by others. */
export function writeLogin(login: StoredLogin, env: NodeJS.ProcessEnv = process.env): string {
  const dir = configDir(env);
  // Created private; an existing directory (maybe the user's own choice) is left as it is.
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = credentialsPath(env);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
  return path;
}

/** Forgets the stored login; true if there was one. */
export function removeLogin(env: NodeJS.ProcessEnv = process.env): boolean {
  const path = credentialsPath(env);
  if (!existsSync(path)) return false;
  rmSync(path, { force: true });
  return true;
}

/**
 * BMC passwords at rest (decision 0009): sealed with AES-256-GCM under a 32-byte key that
 * lives outside the database — MULLIGAN_BMC_KEY (base64) or `<data dir>/bmc-credentials.key`
 * (created 0600 on first start). A database dump alone reveals no password. Every replica
 * sharing a PostgreSQL database needs the same key.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MulliganError } from "../platform/errors.js";

/** The environment variable that carries the key (base64 of 32 bytes). */
export const BMC_KEY_ENV = "MULLIGAN_BMC_KEY";
/** The key file's name in the data directory. */
export const BMC_KEY_FILE = "bmc-credentials.key";
const VERSION = "v1";

/** Seals and opens BMC passwords; the only holder of the key. */
export class CredentialBox {
  private constructor(private readonly key: Buffer) {}

  /** The key from the environment, else from the data directory (created if absent). */
  static load(dataDir: string, env: NodeJS.ProcessEnv = process.env): CredentialBox {
    const fromEnv = env[BMC_KEY_ENV];
    if (fromEnv) return CredentialBox.of(Buffer.from(fromEnv, "base64"), BMC_KEY_ENV);
    const path = join(dataDir, BMC_KEY_FILE);
    try {
      return CredentialBox.of(Buffer.from(readFileSync(path, "utf8").trim(), "base64"), path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    mkdirSync(dataDir, { recursive: true });
    const key = randomBytes(32);
    writeFileSync(path, `${key.toString("base64")}\n`, { mode: 0o600, flag: "wx" });
    return new CredentialBox(key);
  }

  /** A box over a given key (must be 32 bytes). */
  static of(key: Buffer, source = "key"): CredentialBox {
    if (key.length !== 32) throw new Error(`${source}: the BMC key must be 32 bytes (base64)`);
    return new CredentialBox(key);
  }

  /** "v1:<iv>:<tag>:<ciphertext>" (base64 parts); `context` (the node UUID) is bound in. */
  seal(secret: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    cipher.setAAD(Buffer.from(context));
    const data = Buffer.concat([cipher.update(secret, "utf8"), cipher.final()]);
    const parts = [iv, cipher.getAuthTag(), data].map((b) => b.toString("base64"));
    return [VERSION, ...parts].join(":");
  }

  /** The secret, or INTERNAL BMC_KEY_MISMATCH when the key or context is not the sealing one. */
  open(sealed: string, context: string): string {
    const [version, iv, tag, data] = sealed.split(":");
    try {
      if (version !== VERSION || !iv || !tag || data === undefined) throw new Error("format");
      const decipher = createDecipheriv("aes-256-gcm", this.key, Buffer.from(iv, "base64"));
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(Buffer.from(tag, "base64"));
      return Buffer.concat([
        decipher.update(Buffer.from(data, "base64")),
        decipher.final(),
      ]).toString("utf8");
    } catch {
      throw new MulliganError(
        "INTERNAL",
        "BMC_KEY_MISMATCH",
        "a BMC password cannot be opened with this process's key (see decision 0009)",
      );
    }
  }
}

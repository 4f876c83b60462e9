/**
 * Account secrets: random, shown once, stored only as an scrypt hash with its salt and cost
 * parameters (`scrypt$N$r$p$salt$hash`) so parameters can be raised later without breaking
 * existing hashes. Comparison is constant-time.
 */
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

const N = 16384;
const R = 8;
const P = 1;
const KEY_LENGTH = 32;
/** Prefix of every secret, so leaked secrets are recognisable (e.g. by secret scanners). */
export const SECRET_PREFIX = "mlg_";

function derive(secret: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(secret, salt, KEY_LENGTH, { N: n, r, p, maxmem: 256 * n * r }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** A new secret: 32 random bytes, base64url, with the Mulligan prefix. */
export function generateSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString("base64url")}`;
}

/** The stored form of a secret. */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await derive(secret, salt, N, R, P);
  return `scrypt$${N}$${R}$${P}$${salt.toString("base64url")}$${hash.toString("base64url")}`;
}

/** True if `secret` matches the stored hash; a malformed hash never matches. */
export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split("$");
  if (scheme !== "scrypt" || !n || !r || !p || salt === undefined || hash === undefined)
    return false;
  const expected = Buffer.from(hash, "base64url");
  const actual = await derive(
    secret,
    Buffer.from(salt, "base64url"),
    Number(n),
    Number(r),
    Number(p),
  );
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

let dummy: Promise<string> | undefined;

/**
 * Spends the same time as a real check, for unknown or disabled accounts, so response time
 * does not tell whether an account exists.
 */
export async function burnSecretCheck(secret: string): Promise<void> {
  dummy ??= hashSecret(generateSecret());
  await verifySecret(secret, await dummy);
}

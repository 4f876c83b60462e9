/**
 * Token issue: EdDSA (Ed25519) JWTs carrying the claims of src/platform/tokens.ts, signed with
 * the active key of iam_signing_keys. Verification is not here: every service verifies locally
 * with the published public keys (TokenVerifier).
 */
import * as jose from "jose";
import { newUuid } from "../platform/ids.js";
import type { RoleName } from "../platform/principal.js";
import {
  TOKEN_ALGORITHM,
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
  type TokenClaims,
} from "../platform/tokens.js";
import type { Account, Project } from "./model.js";

/** Lifetime of a token when Authenticate asks for none. */
export const DEFAULT_TOKEN_TTL_SECONDS = 3600;
/** Longest token lifetime; also how long a retired key stays published. */
export const MAX_TOKEN_TTL_SECONDS = 12 * 3600;

/** A freshly generated key pair, serialized as it is stored. */
export interface NewSigningKey {
  kid: string;
  privateJwk: string;
  publicJwk: string;
}

/** What a token says about its bearer. */
export interface TokenSubject {
  account: Account;
  project: Project | null;
  roles: readonly RoleName[];
  globalRoles: readonly RoleName[];
}

/** An issued token and when it expires (ISO). */
export interface IssuedToken {
  token: string;
  expireTime: string;
}

/** A new Ed25519 key pair; its kid is the public key's RFC 7638 thumbprint. */
export async function generateSigningKey(): Promise<NewSigningKey> {
  const { privateKey, publicKey } = await jose.generateKeyPair(TOKEN_ALGORITHM, {
    extractable: true,
  });
  const pub = await jose.exportJWK(publicKey);
  const kid = await jose.calculateJwkThumbprint(pub);
  const publicJwk = { ...pub, kid, alg: TOKEN_ALGORITHM, use: "sig" };
  const privateJwk = { ...(await jose.exportJWK(privateKey)), kid, alg: TOKEN_ALGORITHM };
  return { kid, privateJwk: JSON.stringify(privateJwk), publicJwk: JSON.stringify(publicJwk) };
}

/** The effective lifetime: 0 means the default; anything above the maximum is capped. */
export function tokenTtl(requestedSeconds: number): number {
  if (requestedSeconds <= 0) return DEFAULT_TOKEN_TTL_SECONDS;
  return Math.min(requestedSeconds, MAX_TOKEN_TTL_SECONDS);
}

/** Signs a token for `subject` with the given private key. */
export async function signToken(
  key: { kid: string; privateJwk: string },
  subject: TokenSubject,
  ttlSeconds: number,
): Promise<IssuedToken> {
  const privateKey = await jose.importJWK(JSON.parse(key.privateJwk) as jose.JWK, TOKEN_ALGORITHM);
  const now = Math.floor(Date.now() / 1000);
  const exp = now + tokenTtl(ttlSeconds);
  const claims: TokenClaims = {
    name: subject.account.name,
    akind: subject.account.kind,
    prj: subject.project?.uuid ?? null,
    prn: subject.project?.name ?? null,
    roles: [...subject.roles],
    groles: [...subject.globalRoles],
  };
  const token = await new jose.SignJWT({ ...claims })
    .setProtectedHeader({ alg: TOKEN_ALGORITHM, kid: key.kid, typ: "JWT" })
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setSubject(subject.account.uuid)
    .setJti(newUuid())
    .setIssuedAt(now)
    .setExpirationTime(exp)
    .sign(privateKey);
  return { token, expireTime: new Date(exp * 1000).toISOString() };
}

/**
 * Token verification, done locally by every service with the public keys that the identity
 * service publishes. Tokens are EdDSA JWTs; the claims below are the whole contract between
 * the issuer (src/iam/tokens.ts) and every verifier.
 */
import * as jose from "jose";
import { MulliganError } from "./errors.js";
import { type AccountKindName, type Principal, ROLES, type RoleName } from "./principal.js";

export const TOKEN_ISSUER = "mulligan";
export const TOKEN_AUDIENCE = "mulligan";
export const TOKEN_ALGORITHM = "EdDSA";

/** Mulligan's claims beyond the registered ones (sub = account UUID). */
export interface TokenClaims {
  name: string;
  akind: AccountKindName;
  prj: string | null;
  prn: string | null;
  roles: RoleName[];
  groles: RoleName[];
}

/** A public key that verifies tokens. */
export interface VerificationKey {
  kid: string;
  jwk: jose.JWK;
}

/** Where verifiers get keys: in-process from the identity domain, or GetSigningKeys remotely. */
export interface KeySource {
  keys(): Promise<readonly VerificationKey[]>;
}

/** Verified tokens remembered (each call would otherwise pay an EdDSA signature check). */
const VERIFIED_TOKENS = 10_000;

/**
 * Verifies tokens with cached keys. An unknown `kid` refreshes the cache (at most once per
 * `refreshIntervalMs`), so a rotation elsewhere is picked up without a restart. A token that
 * verified is remembered (least recently used first out, at most VERIFIED_TOKENS) until it
 * expires or the keys are refreshed: its claims cannot change, so verifying it again would
 * give the same principal.
 */
export class TokenVerifier {
  private cache = new Map<string, jose.CryptoKey | Uint8Array>();
  private lastRefresh = 0;
  private readonly verified = new Map<string, Principal>();

  constructor(
    private readonly source: KeySource,
    private readonly refreshIntervalMs = 1000,
  ) {}

  async verify(token: string): Promise<Principal> {
    const known = this.verified.get(token);
    if (known) {
      this.verified.delete(token);
      if (known.expiresAt.getTime() > Date.now()) {
        this.verified.set(token, known);
        return known;
      }
    }
    const principal = await this.verifyOnce(token);
    this.verified.set(token, principal);
    if (this.verified.size > VERIFIED_TOKENS) {
      const oldest = this.verified.keys().next().value;
      if (oldest !== undefined) this.verified.delete(oldest);
    }
    return principal;
  }

  private async verifyOnce(token: string): Promise<Principal> {
    let header: jose.ProtectedHeaderParameters;
    try {
      header = jose.decodeProtectedHeader(token);
    } catch {
      throw MulliganError.unauthenticated("TOKEN_MALFORMED", "the token is not a JWT");
    }
    if (header.alg !== TOKEN_ALGORITHM || typeof header.kid !== "string")
      throw MulliganError.unauthenticated("TOKEN_MALFORMED", "the token has no EdDSA key id");
    const key = await this.key(header.kid);
    if (!key)
      throw MulliganError.unauthenticated("TOKEN_KEY_UNKNOWN", "the token's key is unknown");
    try {
      const { payload } = await jose.jwtVerify(token, key, {
        issuer: TOKEN_ISSUER,
        audience: TOKEN_AUDIENCE,
        algorithms: [TOKEN_ALGORITHM],
      });
      return toPrincipal(payload);
    } catch (err) {
      if (err instanceof MulliganError) throw err;
      if (err instanceof jose.errors.JWTExpired)
        throw MulliganError.unauthenticated("TOKEN_EXPIRED", "the token has expired");
      throw MulliganError.unauthenticated(
        "TOKEN_INVALID",
        "the token's signature or claims are invalid",
      );
    }
  }

  private async key(kid: string): Promise<jose.CryptoKey | Uint8Array | undefined> {
    const cached = this.cache.get(kid);
    if (cached) return cached;
    // Refresh at most once per interval. A key unknown right after a refresh (a rotation
    // elsewhere) waits for the next allowed refresh rather than being refused.
    const asked = Date.now();
    const wait = this.lastRefresh + this.refreshIntervalMs - asked;
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (this.lastRefresh <= asked) await this.refresh();
    else await this.refreshing;
    return this.cache.get(kid);
  }

  private refreshing: Promise<void> | undefined;

  /** One refresh at a time; callers arriving meanwhile share it. */
  private refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      const next = new Map<string, jose.CryptoKey | Uint8Array>();
      for (const k of await this.source.keys())
        next.set(k.kid, await jose.importJWK(k.jwk, TOKEN_ALGORITHM));
      this.cache = next;
      // A key may be gone: tokens it signed must be checked again.
      this.verified.clear();
      this.lastRefresh = Date.now();
    })().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }
}

function toPrincipal(payload: jose.JWTPayload): Principal {
  const c = payload as jose.JWTPayload & Partial<TokenClaims>;
  const roles = (list: unknown): RoleName[] =>
    Array.isArray(list) ? list.filter((r): r is RoleName => ROLES.includes(r as RoleName)) : [];
  if (typeof c.sub !== "string" || typeof c.name !== "string" || typeof c.exp !== "number")
    throw MulliganError.unauthenticated("TOKEN_INVALID", "the token lacks required claims");
  return {
    accountUuid: c.sub,
    accountName: c.name,
    accountKind: (c.akind ?? "user") as AccountKindName,
    projectUuid: c.prj ?? null,
    projectName: c.prn ?? null,
    projectRoles: roles(c.roles),
    globalRoles: roles(c.groles),
    expiresAt: new Date(c.exp * 1000),
  };
}

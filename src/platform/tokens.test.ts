import assert from "node:assert/strict";
import { test } from "node:test";
import * as jose from "jose";
import { MulliganError } from "./errors.js";
import {
  TOKEN_ALGORITHM,
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
  TokenVerifier,
  type VerificationKey,
} from "./tokens.js";

async function keyPair(kid: string) {
  const { publicKey, privateKey } = await jose.generateKeyPair(TOKEN_ALGORITHM, {
    extractable: true,
  });
  const key: VerificationKey = { kid, jwk: await jose.exportJWK(publicKey) };
  return { key, privateKey };
}

function sign(privateKey: jose.CryptoKey, kid: string, exp: number): Promise<string> {
  return new jose.SignJWT({ name: "alice", akind: "user", prj: null, prn: null, roles: [] })
    .setProtectedHeader({ alg: TOKEN_ALGORITHM, kid })
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setSubject("00000000-0000-4000-8000-000000000001")
    .setExpirationTime(exp)
    .sign(privateKey);
}

const reason = (err: unknown) => (err instanceof MulliganError ? err.reason : String(err));

test("a remembered token is refused once it expires", async () => {
  const { key, privateKey } = await keyPair("k1");
  const verifier = new TokenVerifier({ keys: async () => [key] }, 0);
  // At least one whole second ahead: `+ 1` alone can expire within milliseconds when the
  // clock is near the end of a second (seen in CI: the first verify was already refused).
  const exp = Math.floor(Date.now() / 1000) + 2;
  const token = await sign(privateKey, "k1", exp);
  const first = await verifier.verify(token);
  assert.equal(first.accountName, "alice");
  assert.equal(await verifier.verify(token), first, "the second call is answered from memory");
  await new Promise((r) => setTimeout(r, exp * 1000 - Date.now() + 10));
  await assert.rejects(verifier.verify(token), (err) => reason(err) === "TOKEN_EXPIRED");
});

test("a remembered token is checked again after the keys change", async () => {
  const a = await keyPair("k1");
  const b = await keyPair("k2");
  let keys = [a.key];
  const verifier = new TokenVerifier({ keys: async () => keys }, 0);
  const exp = Math.floor(Date.now() / 1000) + 600;
  const old = await sign(a.privateKey, "k1", exp);
  await verifier.verify(old);
  // k1 is rotated out; a token with the new key makes the verifier refresh.
  keys = [b.key];
  await verifier.verify(await sign(b.privateKey, "k2", exp));
  await assert.rejects(verifier.verify(old), (err) => reason(err) === "TOKEN_KEY_UNKNOWN");
});

test("a forged token is refused even when a genuine one is remembered", async () => {
  const { key, privateKey } = await keyPair("k1");
  const verifier = new TokenVerifier({ keys: async () => [key] }, 0);
  const token = await sign(privateKey, "k1", Math.floor(Date.now() / 1000) + 600);
  await verifier.verify(token);
  const [h, p, s = ""] = token.split(".");
  const forged = `${h}.${p}.${s.slice(0, -4)}AAAA`;
  await assert.rejects(verifier.verify(forged), (err) => reason(err) === "TOKEN_INVALID");
});

/**
 * The keys that sign tokens. One key is active; rotation retires it but keeps publishing it for
 * the longest token lifetime, so every token it signed verifies until it expires. Keys retired
 * longer ago than that are dropped at the next rotation.
 */
import type { Kysely } from "kysely";
import { MulliganError } from "../platform/errors.js";
import { nowIso } from "../platform/ids.js";
import type { Principal } from "../platform/principal.js";
import type { Database } from "../store/database.js";
import { idempotent } from "../store/request-log.js";
import type { Store } from "../store/store.js";
import type { SigningKey } from "./model.js";
import * as repo from "./repo.js";
import { requestKey } from "./scope.js";
import type { IamSigningKeysTable } from "./tables.js";
import { generateSigningKey, MAX_TOKEN_TTL_SECONDS, type NewSigningKey } from "./tokens.js";

/** When a key retired at `retiredAt` stops being published. */
function expiry(retiredAt: string): string {
  return new Date(Date.parse(retiredAt) + MAX_TOKEN_TTL_SECONDS * 1000).toISOString();
}

/** Keys retired before this instant verify no live token any more. */
function publicationCutoff(): string {
  return new Date(Date.now() - MAX_TOKEN_TTL_SECONDS * 1000).toISOString();
}

function toSigningKey(row: IamSigningKeysTable, activeKid: string | undefined): SigningKey {
  return {
    kid: row.kid,
    publicJwk: row.public_jwk,
    active: row.kid === activeKid,
    createTime: row.created_at,
    expireTime: row.retired_at ? expiry(row.retired_at) : null,
  };
}

/** Stores a generated key as the active one, retiring the previous active key. */
export async function installSigningKey(
  db: Kysely<Database>,
  key: NewSigningKey,
): Promise<IamSigningKeysTable> {
  const now = nowIso();
  await repo.retireSigningKeys(db, now);
  await repo.dropRetiredSigningKeys(db, publicationCutoff());
  const row = {
    kid: key.kid,
    private_jwk: key.privateJwk,
    public_jwk: key.publicJwk,
    created_at: now,
    retired_at: null,
  };
  await repo.insertSigningKey(db, row);
  return row;
}

/** The key that signs new tokens; FAILED_PRECONDITION before bootstrap. */
export async function activeKey(db: Kysely<Database>): Promise<IamSigningKeysTable> {
  const key = await repo.activeSigningKey(db);
  if (!key)
    throw MulliganError.failedPrecondition(
      "NOT_BOOTSTRAPPED",
      "no signing key yet: run bootstrap first",
    );
  return key;
}

/** Every key that may still verify a live token, the active one first. */
export async function publishedKeys(db: Kysely<Database>): Promise<SigningKey[]> {
  const rows = await repo.publishedSigningKeys(db, publicationCutoff());
  const active = (await repo.activeSigningKey(db))?.kid;
  return rows.map((r) => toSigningKey(r, active));
}

/** Makes a new key the signing key. Global admins only: keys serve every project. */
export async function rotateSigningKey(
  store: Store,
  caller: Principal,
  input: { requestId?: string },
): Promise<SigningKey> {
  if (!caller.globalRoles.includes("admin"))
    throw MulliganError.permissionDenied(
      "GLOBAL_ADMIN_REQUIRED",
      "only a global admin rotates signing keys",
    );
  const key = await generateSigningKey();
  return store.transaction((tx) =>
    idempotent(store, tx, requestKey("RotateSigningKey", caller.accountUuid, input), async () =>
      toSigningKey(await installSigningKey(tx, key), key.kid),
    ),
  );
}

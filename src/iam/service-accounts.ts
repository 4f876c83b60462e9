/**
 * Accounts a Mulligan process makes for its own components (the local executor of `serve
 * --local-executor`): created on first use with a global role, the secret kept in a file only
 * the process's user can read. A lost file gets a fresh secret; nothing is ever printed.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { MulliganError } from "../platform/errors.js";
import type { AccountKindName, Principal, RoleName } from "../platform/principal.js";
import type { Store } from "../store/store.js";
import { createAccount, resetAccountSecret } from "./accounts.js";
import { grantRole } from "./bindings.js";
import { countAccounts } from "./repo.js";

/** Acts for the process itself: a global admin that exists in no table. */
const PROCESS: Principal = {
  accountUuid: "00000000-0000-7000-8000-000000000001",
  accountName: "mulligan-process",
  accountKind: "application",
  projectUuid: null,
  projectName: null,
  projectRoles: [],
  globalRoles: ["admin"],
  expiresAt: new Date(8_640_000_000_000_000),
};

/** The secret of the named account, creating the account (with `role` globally) if needed. */
export async function ensureServiceAccount(
  store: Store,
  opts: { name: string; kind: AccountKindName; role: RoleName; secretFile: string },
): Promise<string> {
  // Bootstrap makes the first account; one made before it would block bootstrap for good.
  if ((await countAccounts(store.db)) === 0)
    throw MulliganError.failedPrecondition(
      "NOT_BOOTSTRAPPED",
      "the server is not bootstrapped yet",
    );
  if (existsSync(opts.secretFile)) {
    const secret = readFileSync(opts.secretFile, "utf8").trim();
    if (secret) return secret;
  }
  let secret: string;
  try {
    secret = (
      await createAccount(store, PROCESS, {
        name: opts.name,
        kind: opts.kind,
        description: "created by mulligan serve for its own use",
      })
    ).secret;
  } catch (err) {
    if (!(err instanceof MulliganError && err.code === "ALREADY_EXISTS")) throw err;
    secret = (await resetAccountSecret(store, PROCESS, { account: opts.name })).secret;
  }
  try {
    await grantRole(store, PROCESS, { account: opts.name, role: opts.role });
  } catch (err) {
    if (!(err instanceof MulliganError && err.code === "ALREADY_EXISTS")) throw err;
  }
  mkdirSync(dirname(opts.secretFile), { recursive: true });
  writeFileSync(opts.secretFile, `${secret}\n`, { mode: 0o600 });
  return secret;
}

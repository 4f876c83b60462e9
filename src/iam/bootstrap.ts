/**
 * Bootstrap: the first signing key, project and admin account of a fresh installation. Refused
 * once any account exists. Exported as a plain function so the CLI can bootstrap a data
 * directory offline; the RPC additionally accepts only loopback peers.
 */
import { isIP } from "node:net";
import { MulliganError } from "../platform/errors.js";
import { newUuid, nowIso } from "../platform/ids.js";
import { idempotent } from "../store/request-log.js";
import type { Store } from "../store/store.js";
import type { Account, Project } from "./model.js";
import * as repo from "./repo.js";
import { requestKey, toAccount, toProject } from "./scope.js";
import { generateSecret, hashSecret } from "./secrets.js";
import { installSigningKey } from "./signing-keys.js";
import { DEFAULT_TOKEN_TTL_SECONDS, generateSigningKey, signToken } from "./tokens.js";

export interface BootstrapInput {
  requestId?: string;
  /** Default "admin". */
  accountName: string;
  /** Default "admin". */
  projectName: string;
}

/** The admin's credentials, shown once, and a ready token scoped to the first project. */
export interface BootstrapResult {
  account: Account;
  secret: string;
  project: Project;
  token: string;
  tokenExpireTime: string;
}

/** The name used for the first account and project when the request leaves them empty. */
export const DEFAULT_BOOTSTRAP_NAME = "admin";

/**
 * True for a peer allowed to bootstrap: in-process ("") or loopback (127.0.0.0/8, ::1, and
 * IPv4-mapped 127.x).
 */
export function isLoopbackPeer(address: string): boolean {
  if (address === "") return true;
  const v4 = address.startsWith("::ffff:") ? address.slice("::ffff:".length) : address;
  if (isIP(v4) === 4) return v4.startsWith("127.");
  return address === "::1" || address === "0:0:0:0:0:0:0:1";
}

const alreadyBootstrapped = () =>
  MulliganError.failedPrecondition(
    "ALREADY_BOOTSTRAPPED",
    "this installation is already bootstrapped",
  );

export async function bootstrap(store: Store, input: BootstrapInput): Promise<BootstrapResult> {
  const key = await generateSigningKey();
  const secret = generateSecret();
  const hash = await hashSecret(secret);
  const result = await store.transaction(async (tx) => {
    // A concurrent bootstrap that got there first shows up as a count > 0. Every bootstrap
    // claims the same request id, so two racing ones (even with different names) serialize on
    // the request log's unique key: the loser is retried and then sees the count.
    if ((await repo.countAccounts(tx)) > 0) throw alreadyBootstrapped();
    const once = { ...requestKey("Bootstrap", "", input), requestId: "bootstrap" };
    return idempotent(store, tx, once, async () => {
      const now = nowIso();
      await installSigningKey(tx, key);
      const project = {
        uuid: newUuid(),
        name: input.projectName,
        parent_uuid: null,
        description: "",
        created_at: now,
        updated_at: now,
      };
      await repo.insertProject(tx, project);
      const account = {
        uuid: newUuid(),
        name: input.accountName,
        kind: "user",
        description: "created by bootstrap",
        disabled: 0,
        secret_hash: hash,
        created_at: now,
        updated_at: now,
      };
      try {
        await repo.insertAccount(tx, account);
      } catch (err) {
        if (store.isUniqueViolation(err)) throw alreadyBootstrapped();
        throw err;
      }
      await repo.insertBinding(tx, {
        uuid: newUuid(),
        account_uuid: account.uuid,
        project_uuid: "",
        role: "admin",
        created_at: now,
      });
      return { account: toAccount(account), project: toProject({ ...project, parent_name: null }) };
    });
  });
  const signed = await signToken(
    key,
    { account: result.account, project: result.project, roles: [], globalRoles: ["admin"] },
    DEFAULT_TOKEN_TTL_SECONDS,
  );
  return { ...result, secret, token: signed.token, tokenExpireTime: signed.expireTime };
}

/**
 * Who may call each IdentityService RPC (checked by the server's auth interceptor before the
 * handler runs). Finer rules live in the domain: project-scoped admins act only on their
 * project subtree, readers see only their subtree, an account may reset its own secret.
 */
import { ADMIN, type PolicyTable, READERS } from "../platform/policy.js";

/** The IdentityService policy table; the server refuses to start if an RPC is missing. */
export const iamPolicy: PolicyTable = {
  Bootstrap: "public",
  Authenticate: "public",
  GetSigningKeys: "public",
  RotateSigningKey: ADMIN,
  WhoAmI: "authenticated",
  CreateAccount: ADMIN,
  GetAccount: ADMIN,
  ListAccounts: ADMIN,
  UpdateAccount: ADMIN,
  DeleteAccount: ADMIN,
  ResetAccountSecret: "authenticated",
  CreateProject: ADMIN,
  GetProject: READERS,
  ListProjects: READERS,
  UpdateProject: ADMIN,
  DeleteProject: ADMIN,
  GrantRole: ADMIN,
  RevokeRole: ADMIN,
  ListRoleBindings: ADMIN,
  Configure: ADMIN,
};

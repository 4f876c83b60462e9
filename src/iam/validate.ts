/**
 * Every IdentityService request decoded and validated in one place: proto request → plain
 * domain input. All bad fields of a request are reported together as one INVALID_ARGUMENT.
 */

import {
  AccountKind,
  type AuthenticateRequest,
  type BootstrapRequest,
  type CreateAccountRequest,
  type CreateProjectRequest,
  type DeleteAccountRequest,
  type DeleteProjectRequest,
  type GetAccountRequest,
  type GetProjectRequest,
  type GrantRoleRequest,
  type ListAccountsRequest,
  type ListProjectsRequest,
  type ListRoleBindingsRequest,
  type ResetAccountSecretRequest,
  type RevokeRoleRequest,
  Role,
  type RotateSigningKeyRequest,
  type UpdateAccountRequest,
  type UpdateProjectRequest,
} from "../gen/mulligan/iam/v1/iam_pb.js";
import type { AccountKindName, RoleName } from "../platform/principal.js";
import { Violations } from "../platform/validate.js";
import type {
  AccountRefInput,
  CreateAccountInput,
  ListAccountsInput,
  UpdateAccountInput,
} from "./accounts.js";
import type { AuthenticateInput } from "./authenticate.js";
import type { BindingInput, ListRoleBindingsInput } from "./bindings.js";
import { type BootstrapInput, DEFAULT_BOOTSTRAP_NAME } from "./bootstrap.js";
import { GLOBAL_ROLES } from "./model.js";
import type {
  CreateProjectInput,
  DeleteProjectInput,
  ListProjectsInput,
  UpdateProjectInput,
} from "./projects.js";

/** Longest secret accepted by Authenticate (ours are 47 characters). */
export const MAX_SECRET_LENGTH = 256;

/** Wire enum → domain name of account kinds. */
export const KIND_NAMES: Record<number, AccountKindName> = {
  [AccountKind.USER]: "user",
  [AccountKind.APPLICATION]: "application",
  [AccountKind.EXECUTOR]: "executor",
};

/** Wire enum → domain name of roles. */
export const ROLE_NAMES: Record<number, RoleName> = {
  [Role.ADMIN]: "admin",
  [Role.OPERATOR]: "operator",
  [Role.MEMBER]: "member",
  [Role.READER]: "reader",
  [Role.EXECUTOR]: "executor",
};

export function decodeBootstrap(req: BootstrapRequest): BootstrapInput {
  return Violations.decode((v) => ({
    requestId: v.requestId("request_id", req.requestId),
    accountName: v.name("account_name", req.accountName || DEFAULT_BOOTSTRAP_NAME),
    projectName: v.name("project_name", req.projectName || DEFAULT_BOOTSTRAP_NAME),
  }));
}

export function decodeAuthenticate(req: AuthenticateRequest): AuthenticateInput {
  return Violations.decode((v) => {
    if (req.secret === "") v.add("secret", "FIELD_REQUIRED", "is required");
    else if (req.secret.length > MAX_SECRET_LENGTH)
      v.add("secret", "FIELD_TOO_LONG", `must be at most ${MAX_SECRET_LENGTH} characters`);
    return {
      account: v.ref("account", req.account, true),
      secret: req.secret,
      project: v.optionalRef("project", req.project),
      ttlSeconds: req.ttlSeconds,
    };
  });
}

export function decodeRotateSigningKey(req: RotateSigningKeyRequest): { requestId?: string } {
  return Violations.decode((v) => ({ requestId: v.requestId("request_id", req.requestId) }));
}

export function decodeCreateAccount(req: CreateAccountRequest): CreateAccountInput {
  return Violations.decode((v) => ({
    requestId: v.requestId("request_id", req.requestId),
    name: v.name("name", req.name),
    kind: KIND_NAMES[v.enumValue("kind", req.kind, AccountKind, true)] ?? "user",
    description: v.text("description", req.description),
  }));
}

export function decodeGetAccount(req: GetAccountRequest): string {
  return Violations.decode((v) => v.ref("account", req.account, true));
}

export function decodeListAccounts(req: ListAccountsRequest): ListAccountsInput {
  return Violations.decode((v) => ({
    ...v.page(req),
    kind: KIND_NAMES[v.enumValue("kind", req.kind, AccountKind, false)],
  }));
}

export function decodeUpdateAccount(req: UpdateAccountRequest): UpdateAccountInput {
  return Violations.decode((v) => {
    const mask = v.updateMask("update_mask", req.updateMask?.paths, ["description", "disabled"]);
    return {
      requestId: v.requestId("request_id", req.requestId),
      account: v.ref("account", req.account, true),
      description: mask.has("description") ? v.text("description", req.description) : undefined,
      disabled: mask.has("disabled") ? req.disabled : undefined,
    };
  });
}

/** DeleteAccount and ResetAccountSecret take the same fields. */
export function decodeAccountRef(
  req: DeleteAccountRequest | ResetAccountSecretRequest,
): AccountRefInput {
  return Violations.decode((v) => ({
    requestId: v.requestId("request_id", req.requestId),
    account: v.ref("account", req.account, true),
  }));
}

export function decodeCreateProject(req: CreateProjectRequest): CreateProjectInput {
  return Violations.decode((v) => ({
    requestId: v.requestId("request_id", req.requestId),
    name: v.name("name", req.name),
    parent: v.optionalRef("parent", req.parent),
    description: v.text("description", req.description),
  }));
}

export function decodeGetProject(req: GetProjectRequest): string {
  return Violations.decode((v) => v.ref("project", req.project, true));
}

export function decodeListProjects(req: ListProjectsRequest): ListProjectsInput {
  return Violations.decode((v) => ({
    ...v.page(req),
    parent: v.optionalRef("parent", req.parent),
  }));
}

export function decodeUpdateProject(req: UpdateProjectRequest): UpdateProjectInput {
  return Violations.decode((v) => {
    const mask = v.updateMask("update_mask", req.updateMask?.paths, ["description"]);
    return {
      requestId: v.requestId("request_id", req.requestId),
      project: v.ref("project", req.project, true),
      description: mask.has("description") ? v.text("description", req.description) : undefined,
    };
  });
}

export function decodeDeleteProject(req: DeleteProjectRequest): DeleteProjectInput {
  return Violations.decode((v) => ({
    requestId: v.requestId("request_id", req.requestId),
    project: v.ref("project", req.project, true),
  }));
}

/** GrantRole and RevokeRole: a role on a project, or a global role (not member). */
export function decodeBinding(req: GrantRoleRequest | RevokeRoleRequest): BindingInput {
  return Violations.decode((v) => {
    const role = ROLE_NAMES[v.enumValue("role", req.role, Role, true)] ?? "reader";
    const project = v.optionalRef("project", req.project);
    if (project === undefined && req.role in ROLE_NAMES && !GLOBAL_ROLES.includes(role))
      v.add("project", "ROLE_NOT_GLOBAL", `role ${role} can only be bound on a project`);
    return {
      requestId: v.requestId("request_id", req.requestId),
      account: v.ref("account", req.account, true),
      project,
      role,
    };
  });
}

export function decodeListRoleBindings(req: ListRoleBindingsRequest): ListRoleBindingsInput {
  return Violations.decode((v) => ({
    ...v.page(req),
    account: v.optionalRef("account", req.account),
    project: v.optionalRef("project", req.project),
  }));
}

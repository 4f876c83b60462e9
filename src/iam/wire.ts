/**
 * Domain objects → IdentityService messages (the encode step of service.ts). Times become
 * google.protobuf.Timestamp; names of kinds and roles become the generated enums.
 */
import { create } from "@bufbuild/protobuf";
import { type Timestamp, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  AccountKind,
  type Account as AccountMessage,
  AccountSchema,
  type Project as ProjectMessage,
  ProjectSchema,
  Role,
  type RoleBinding as RoleBindingMessage,
  RoleBindingSchema,
  type SigningKey as SigningKeyMessage,
  SigningKeySchema,
} from "../gen/mulligan/iam/v1/iam_pb.js";
import type { AccountKindName, RoleName } from "../platform/principal.js";
import { TOKEN_ALGORITHM } from "../platform/tokens.js";
import type { Account, Project, RoleBinding, SigningKey } from "./model.js";

const KINDS: Record<AccountKindName, AccountKind> = {
  user: AccountKind.USER,
  application: AccountKind.APPLICATION,
  executor: AccountKind.EXECUTOR,
};

/** Domain role name → wire enum (also used by WhoAmI and Authenticate responses). */
export const ROLES: Record<RoleName, Role> = {
  admin: Role.ADMIN,
  operator: Role.OPERATOR,
  member: Role.MEMBER,
  reader: Role.READER,
  executor: Role.EXECUTOR,
};

/** An ISO time as a Timestamp; undefined stays unset. */
export function timestamp(iso: string | null | undefined): Timestamp | undefined {
  return iso ? timestampFromDate(new Date(iso)) : undefined;
}

export function accountMessage(a: Account): AccountMessage {
  return create(AccountSchema, {
    uuid: a.uuid,
    name: a.name,
    kind: KINDS[a.kind],
    description: a.description,
    disabled: a.disabled,
    createTime: timestamp(a.createTime),
    updateTime: timestamp(a.updateTime),
  });
}

export function projectMessage(p: Project): ProjectMessage {
  return create(ProjectSchema, {
    uuid: p.uuid,
    name: p.name,
    parentUuid: p.parentUuid ?? "",
    parentName: p.parentName ?? "",
    description: p.description,
    createTime: timestamp(p.createTime),
    updateTime: timestamp(p.updateTime),
  });
}

export function bindingMessage(b: RoleBinding): RoleBindingMessage {
  return create(RoleBindingSchema, {
    accountUuid: b.accountUuid,
    accountName: b.accountName,
    projectUuid: b.projectUuid ?? "",
    projectName: b.projectName ?? "",
    role: ROLES[b.role],
    createTime: timestamp(b.createTime),
  });
}

export function signingKeyMessage(k: SigningKey): SigningKeyMessage {
  return create(SigningKeySchema, {
    keyId: k.kid,
    algorithm: TOKEN_ALGORITHM,
    publicJwk: k.publicJwk,
    active: k.active,
    createTime: timestamp(k.createTime),
    expireTime: timestamp(k.expireTime),
  });
}

export function roleMessages(roles: readonly RoleName[]): Role[] {
  return roles.map((r) => ROLES[r]);
}

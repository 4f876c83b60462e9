/**
 * IdentityService handlers: decode (validate.ts) → caller (the interceptor already applied
 * policy.ts) → domain → encode (wire.ts). Nothing else happens here.
 */
import type { ServiceImpl } from "@connectrpc/connect";
import type { IdentityService } from "../gen/mulligan/iam/v1/iam_pb.js";
import { principalOf } from "../platform/caller.js";
import { MulliganError } from "../platform/errors.js";
import { peerAddressKey } from "../platform/principal.js";
import { configureHandler } from "../platform/runtime-settings.js";
import type { ServiceDeps } from "../platform/service-module.js";
import { TOKEN_ISSUER } from "../platform/tokens.js";
import * as accounts from "./accounts.js";
import { authenticate, whoAmI } from "./authenticate.js";
import * as bindings from "./bindings.js";
import { bootstrap, isLoopbackPeer } from "./bootstrap.js";
import * as projects from "./projects.js";
import { publishedKeys, rotateSigningKey } from "./signing-keys.js";
import * as validate from "./validate.js";
import {
  accountMessage,
  bindingMessage,
  projectMessage,
  roleMessages,
  signingKeyMessage,
  timestamp,
} from "./wire.js";

/** The handlers of every IdentityService RPC. */
export function identityService({
  store,
  logger,
}: ServiceDeps): ServiceImpl<typeof IdentityService> {
  return {
    async bootstrap(req, ctx) {
      if (!isLoopbackPeer(ctx.values.get(peerAddressKey)))
        throw MulliganError.permissionDenied(
          "BOOTSTRAP_LOCAL_ONLY",
          "bootstrap is accepted only from loopback",
        );
      const r = await bootstrap(store, validate.decodeBootstrap(req));
      return {
        account: accountMessage(r.account),
        secret: r.secret,
        project: projectMessage(r.project),
        token: r.token,
        tokenExpireTime: timestamp(r.tokenExpireTime),
      };
    },
    async authenticate(req) {
      const r = await authenticate(store, validate.decodeAuthenticate(req));
      return {
        token: r.token,
        expireTime: timestamp(r.expireTime),
        account: accountMessage(r.account),
        project: r.project ? projectMessage(r.project) : undefined,
        roles: roleMessages(r.roles),
      };
    },
    async getSigningKeys() {
      return { keys: (await publishedKeys(store.db)).map(signingKeyMessage), issuer: TOKEN_ISSUER };
    },
    async rotateSigningKey(req, ctx) {
      const key = await rotateSigningKey(
        store,
        principalOf(ctx),
        validate.decodeRotateSigningKey(req),
      );
      return { key: signingKeyMessage(key) };
    },
    async whoAmI(_req, ctx) {
      const r = await whoAmI(store, principalOf(ctx));
      return {
        account: accountMessage(r.account),
        project: r.project ? projectMessage(r.project) : undefined,
        roles: roleMessages(r.roles),
        expireTime: timestamp(r.expireTime),
      };
    },
    async createAccount(req, ctx) {
      const r = await accounts.createAccount(
        store,
        principalOf(ctx),
        validate.decodeCreateAccount(req),
      );
      return { account: accountMessage(r.account), secret: r.secret };
    },
    async getAccount(req, ctx) {
      const a = await accounts.getAccount(store, principalOf(ctx), validate.decodeGetAccount(req));
      return { account: accountMessage(a) };
    },
    async listAccounts(req, ctx) {
      const page = await accounts.listAccounts(
        store,
        principalOf(ctx),
        validate.decodeListAccounts(req),
      );
      return { accounts: page.items.map(accountMessage), nextPageToken: page.nextPageToken };
    },
    async updateAccount(req, ctx) {
      const a = await accounts.updateAccount(
        store,
        principalOf(ctx),
        validate.decodeUpdateAccount(req),
      );
      return { account: accountMessage(a) };
    },
    async deleteAccount(req, ctx) {
      await accounts.deleteAccount(store, principalOf(ctx), validate.decodeAccountRef(req));
      return {};
    },
    async resetAccountSecret(req, ctx) {
      const r = await accounts.resetAccountSecret(
        store,
        principalOf(ctx),
        validate.decodeAccountRef(req),
      );
      return { account: accountMessage(r.account), secret: r.secret };
    },
    async createProject(req, ctx) {
      const p = await projects.createProject(
        store,
        principalOf(ctx),
        validate.decodeCreateProject(req),
      );
      return { project: projectMessage(p) };
    },
    async getProject(req, ctx) {
      const p = await projects.getProject(store, principalOf(ctx), validate.decodeGetProject(req));
      return { project: projectMessage(p) };
    },
    async listProjects(req, ctx) {
      const page = await projects.listProjects(
        store,
        principalOf(ctx),
        validate.decodeListProjects(req),
      );
      return { projects: page.items.map(projectMessage), nextPageToken: page.nextPageToken };
    },
    async updateProject(req, ctx) {
      const p = await projects.updateProject(
        store,
        principalOf(ctx),
        validate.decodeUpdateProject(req),
      );
      return { project: projectMessage(p) };
    },
    async deleteProject(req, ctx) {
      await projects.deleteProject(store, principalOf(ctx), validate.decodeDeleteProject(req));
      return {};
    },
    async grantRole(req, ctx) {
      const b = await bindings.grantRole(store, principalOf(ctx), validate.decodeBinding(req));
      return { binding: bindingMessage(b) };
    },
    async revokeRole(req, ctx) {
      await bindings.revokeRole(store, principalOf(ctx), validate.decodeBinding(req));
      return {};
    },
    async listRoleBindings(req, ctx) {
      const page = await bindings.listRoleBindings(
        store,
        principalOf(ctx),
        validate.decodeListRoleBindings(req),
      );
      return { bindings: page.items.map(bindingMessage), nextPageToken: page.nextPageToken };
    },
    configure: configureHandler(logger),
  };
}

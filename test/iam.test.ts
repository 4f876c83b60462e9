/**
 * IdentityService over real gRPC, on SQLite and PostgreSQL: bootstrap, authentication, tokens
 * (expiry, forgery, rotation), the project tree, tenancy of scoped admins and readers,
 * idempotency, and a table of bad inputs with their exact code and reason.
 */
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Code } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as jose from "jose";
import { AccountKind, Role } from "../src/gen/mulligan/iam/v1/iam_pb.js";
import { bootstrap, isLoopbackPeer } from "../src/iam/bootstrap.js";
import { localKeySource } from "../src/iam/module.js";
import { RemoteKeySource, RemoteProjectDirectory } from "../src/iam/remote.js";
import { MulliganError } from "../src/platform/errors.js";
import { newUuid } from "../src/platform/ids.js";
import { TokenVerifier } from "../src/platform/tokens.js";
import { migrate } from "../src/store/migrate.js";
import { openStore } from "../src/store/store.js";
import {
  expectGrpcError,
  forEachStore,
  freshStore,
  STORE_KINDS,
  type TestServer,
} from "./harness.js";

let seq = 0;
const unique = (prefix: string) => `${prefix}-${process.pid}-${++seq}`;

/** A new account bound to `role` on `project` ("" = global); returns its name and secret. */
async function accountWith(s: TestServer, role: Role, project: string) {
  const name = unique("acct");
  const { secret } = await s.iam().createAccount({ name, kind: AccountKind.USER });
  await s.iam().grantRole({ account: name, project, role });
  return { name, secret };
}

async function tokenOf(s: TestServer, account: { name: string; secret: string }, project = "") {
  return (await s.iam("").authenticate({ account: account.name, secret: account.secret, project }))
    .token;
}

async function project(s: TestServer, parent = "") {
  const name = unique("prj");
  await s.iam().createProject({ name, parent });
  return name;
}

test("bootstrap accepts only loopback peers", () => {
  for (const peer of ["", "127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
    assert.equal(isLoopbackPeer(peer), true, peer);
  for (const peer of ["10.0.0.1", "::ffff:10.0.0.1", "192.168.1.127", "fe80::1", "128.0.0.1"])
    assert.equal(isLoopbackPeer(peer), false, peer);
});

for (const kind of STORE_KINDS)
  test(`offline bootstrap of a data store [${kind}]`, async () => {
    const fresh = await freshStore(kind);
    const store = await openStore(fresh.url);
    try {
      await migrate(store);
      const first = await bootstrap(store, { accountName: "root", projectName: "ops" });
      assert.equal(first.account.name, "root");
      assert.equal(first.project.name, "ops");
      const me = await new TokenVerifier(localKeySource(store)).verify(first.token);
      assert.deepEqual(
        [me.accountName, me.projectName, me.globalRoles],
        ["root", "ops", ["admin"]],
      );
      await assert.rejects(
        bootstrap(store, { accountName: "root", projectName: "ops" }),
        (err) => err instanceof MulliganError && err.reason === "ALREADY_BOOTSTRAPPED",
      );
    } finally {
      await store.close();
      await fresh.drop();
    }
  });

forEachStore("iam", (server) => {
  test("bootstrap is refused once done", async () => {
    await expectGrpcError(
      server().iam("").bootstrap({}),
      Code.FailedPrecondition,
      "ALREADY_BOOTSTRAPPED",
    );
    await expectGrpcError(
      server().iam("").bootstrap({ accountName: "other", projectName: "other" }),
      Code.FailedPrecondition,
      "ALREADY_BOOTSTRAPPED",
    );
  });

  test("the bootstrap token is a global admin scoped to the first project", async () => {
    const me = await server().iam().whoAmI({});
    assert.equal(me.account?.name, server().admin.accountName);
    assert.equal(me.project?.name, server().admin.projectName);
    assert.deepEqual(me.roles, [Role.ADMIN]);
  });

  test("authenticate: right secret, wrong secret, unknown and disabled accounts", async () => {
    const s = server();
    const prj = await project(s);
    const acct = await accountWith(s, Role.MEMBER, prj);
    const ok = await s
      .iam("")
      .authenticate({ account: acct.name, secret: acct.secret, project: prj });
    assert.deepEqual(ok.roles, [Role.MEMBER]);
    assert.equal(ok.project?.name, prj);
    assert.ok(ok.expireTime && Number(ok.expireTime.seconds) * 1000 > Date.now() + 3500_000);
    const by = await s.iam("").authenticate({
      account: ok.account?.uuid ?? "",
      secret: acct.secret,
      project: ok.project?.uuid ?? "",
    });
    assert.equal(by.account?.name, acct.name);
    const who = await s.iam(ok.token).whoAmI({});
    assert.equal(who.account?.name, acct.name);
    await expectGrpcError(
      s.iam("").authenticate({ account: acct.name, secret: `${acct.secret}x`, project: prj }),
      Code.Unauthenticated,
      "CREDENTIALS_INVALID",
    );
    await expectGrpcError(
      s.iam("").authenticate({ account: unique("nobody"), secret: acct.secret, project: prj }),
      Code.Unauthenticated,
      "CREDENTIALS_INVALID",
    );
    await s
      .iam()
      .updateAccount({ account: acct.name, disabled: true, updateMask: { paths: ["disabled"] } });
    await expectGrpcError(
      s.iam("").authenticate({ account: acct.name, secret: acct.secret, project: prj }),
      Code.Unauthenticated,
      "CREDENTIALS_INVALID",
    );
    await s
      .iam()
      .updateAccount({ account: acct.name, disabled: false, updateMask: { paths: ["disabled"] } });
    await tokenOf(s, acct, prj);
  });

  test("ttl is capped at 12 hours", async () => {
    const s = server();
    const t = await s.iam("").authenticate({
      account: s.admin.accountName,
      secret: s.admin.secret,
      ttlSeconds: 7 * 24 * 3600,
    });
    const exp = Number(t.expireTime?.seconds ?? 0) * 1000;
    assert.ok(exp <= Date.now() + 12 * 3600_000 + 5000 && exp > Date.now() + 11 * 3600_000);
  });

  test("an expired token is refused", async () => {
    const s = server();
    const t = await s
      .iam("")
      .authenticate({ account: s.admin.accountName, secret: s.admin.secret, ttlSeconds: 1 });
    await s.iam(t.token).whoAmI({});
    await sleep(2100);
    await expectGrpcError(s.iam(t.token).whoAmI({}), Code.Unauthenticated, "TOKEN_EXPIRED");
  });

  test("forged tokens are refused", async () => {
    const s = server();
    const prj = await project(s);
    const reader = await tokenOf(s, await accountWith(s, Role.READER, prj), prj);
    const [header, payload, signature] = reader.split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString()) as Record<
      string,
      unknown
    >;
    const { kid } = jose.decodeProtectedHeader(reader);
    const forgedPayload = Buffer.from(JSON.stringify({ ...claims, groles: ["admin"] })).toString(
      "base64url",
    );
    const tampered = `${header}.${forgedPayload}.${signature}`;
    await expectGrpcError(s.iam(tampered).listAccounts({}), Code.Unauthenticated, "TOKEN_INVALID");
    const { privateKey } = await jose.generateKeyPair("EdDSA");
    const sign = (k: string) =>
      new jose.SignJWT({ ...claims, groles: ["admin"] })
        .setProtectedHeader({ alg: "EdDSA", kid: k })
        .sign(privateKey);
    await expectGrpcError(
      s.iam(await sign(kid ?? "")).listAccounts({}),
      Code.Unauthenticated,
      "TOKEN_INVALID",
    );
    await expectGrpcError(
      s.iam(await sign("some-other-key")).listAccounts({}),
      Code.Unauthenticated,
      "TOKEN_KEY_UNKNOWN",
    );
    const none = `${Buffer.from(JSON.stringify({ alg: "none", kid })).toString("base64url")}.${forgedPayload}.`;
    await expectGrpcError(s.iam(none).listAccounts({}), Code.Unauthenticated, "TOKEN_MALFORMED");
    await expectGrpcError(
      s.iam("not-a-jwt").listAccounts({}),
      Code.Unauthenticated,
      "TOKEN_MALFORMED",
    );
    // The genuine token still works, and still only as a reader.
    await expectGrpcError(s.iam(reader).listAccounts({}), Code.PermissionDenied, "ROLE_REQUIRED");
  });

  test("key rotation: old tokens keep working, new tokens use the new key", async () => {
    const s = server();
    const oldToken = s.admin.token;
    const before = await s.iam("").getSigningKeys({});
    const oldKid = before.keys.find((k) => k.active)?.keyId;
    assert.equal(jose.decodeProtectedHeader(oldToken).kid, oldKid);
    const rotated = await s.iam().rotateSigningKey({});
    assert.notEqual(rotated.key?.keyId, oldKid);
    const after = await s.iam("").getSigningKeys({});
    assert.equal(after.issuer, "mulligan");
    assert.equal(after.keys.find((k) => k.active)?.keyId, rotated.key?.keyId);
    const retired = after.keys.find((k) => k.keyId === oldKid);
    assert.ok(retired && !retired.active && retired.expireTime, "the old key is still published");
    const fresh = await s
      .iam("")
      .authenticate({ account: s.admin.accountName, secret: s.admin.secret });
    assert.equal(jose.decodeProtectedHeader(fresh.token).kid, rotated.key?.keyId);
    // The verifier refreshes its key cache at most once a second.
    await sleep(1100);
    assert.equal((await s.iam(fresh.token).whoAmI({})).account?.name, s.admin.accountName);
    assert.equal((await s.iam(oldToken).whoAmI({})).account?.name, s.admin.accountName);
  });

  test("a role on a project reaches its sub-projects, not its parent or siblings", async () => {
    const s = server();
    const root = await project(s);
    const child = await project(s, root);
    const grandchild = await project(s, child);
    const sibling = await project(s, root);
    const member = await accountWith(s, Role.MEMBER, child);
    const deep = await s
      .iam("")
      .authenticate({ account: member.name, secret: member.secret, project: grandchild });
    assert.deepEqual(deep.roles, [Role.MEMBER]);
    for (const p of [root, sibling])
      await expectGrpcError(tokenOf(s, member, p), Code.PermissionDenied, "NO_ROLE_ON_PROJECT");
    await expectGrpcError(
      tokenOf(s, member, unique("missing")),
      Code.PermissionDenied,
      "NO_ROLE_ON_PROJECT",
    );
    await expectGrpcError(tokenOf(s, member), Code.PermissionDenied, "NO_GLOBAL_ROLE");
    const token = await tokenOf(s, member, child);
    const listed = await s.iam(token).listProjects({});
    assert.deepEqual(listed.projects.map((p) => p.name).sort(), [child, grandchild].sort());
    assert.equal(
      (await s.iam(token).getProject({ project: grandchild })).project?.parentName,
      child,
    );
    for (const p of [root, sibling])
      await expectGrpcError(
        s.iam(token).getProject({ project: p }),
        Code.NotFound,
        "PROJECT_NOT_FOUND",
        "project",
      );
  });

  test("global roles: a token without project, and every project reachable", async () => {
    const s = server();
    const globalReader = await accountWith(s, Role.READER, "");
    const t = await s
      .iam("")
      .authenticate({ account: globalReader.name, secret: globalReader.secret });
    assert.deepEqual(t.roles, [Role.READER]);
    assert.equal(t.project, undefined);
    const some = await project(s);
    await s.iam(t.token).getProject({ project: some });
    await expectGrpcError(
      s.iam("").authenticate({
        account: globalReader.name,
        secret: globalReader.secret,
        project: unique("missing"),
      }),
      Code.NotFound,
      "PROJECT_NOT_FOUND",
      "project",
    );
  });

  test("a project-scoped admin acts only on its subtree", async () => {
    const s = server();
    const mine = await project(s);
    const other = await project(s);
    const admin = await tokenOf(s, await accountWith(s, Role.ADMIN, mine), mine);
    const sub = unique("sub");
    await s.iam(admin).createProject({ name: sub, parent: mine });
    await expectGrpcError(
      s.iam(admin).createProject({ name: unique("top") }),
      Code.PermissionDenied,
      "PROJECT_OUT_OF_SCOPE",
    );
    await expectGrpcError(
      s.iam(admin).createProject({ name: unique("x"), parent: other }),
      Code.NotFound,
      "PROJECT_NOT_FOUND",
      "parent",
    );
    const newcomer = unique("newcomer");
    await s.iam(admin).createAccount({ name: newcomer, kind: AccountKind.APPLICATION });
    await s.iam(admin).grantRole({ account: newcomer, project: sub, role: Role.MEMBER });
    await expectGrpcError(
      s.iam(admin).grantRole({ account: newcomer, project: other, role: Role.MEMBER }),
      Code.NotFound,
      "PROJECT_NOT_FOUND",
      "project",
    );
    await expectGrpcError(
      s.iam(admin).grantRole({ account: newcomer, role: Role.READER }),
      Code.PermissionDenied,
      "GLOBAL_ADMIN_REQUIRED",
    );
    const outsider = await accountWith(s, Role.MEMBER, other);
    const names = (await s.iam(admin).listAccounts({ pageSize: 1000 })).accounts.map((a) => a.name);
    assert.ok(
      names.includes(newcomer) &&
        !names.includes(outsider.name) &&
        !names.includes(s.admin.accountName),
    );
    await expectGrpcError(
      s.iam(admin).getAccount({ account: outsider.name }),
      Code.NotFound,
      "ACCOUNT_NOT_FOUND",
      "account",
    );
    await expectGrpcError(
      s.iam(admin).resetAccountSecret({ account: outsider.name }),
      Code.NotFound,
      "ACCOUNT_NOT_FOUND",
      "account",
    );
    const bindings = (await s.iam(admin).listRoleBindings({})).bindings;
    assert.ok(bindings.every((b) => b.projectName === mine || b.projectName === sub));
    await expectGrpcError(
      s.iam(admin).rotateSigningKey({}),
      Code.PermissionDenied,
      "GLOBAL_ADMIN_REQUIRED",
    );
    await expectGrpcError(
      s.iam(admin).deleteProject({ project: mine }),
      Code.PermissionDenied,
      "PROJECT_OUT_OF_SCOPE",
    );
    await s.iam(admin).revokeRole({ account: newcomer, project: sub, role: Role.MEMBER });
    await s.iam(admin).deleteProject({ project: sub });
  });

  test("an account resets its own secret; others cannot see it", async () => {
    const s = server();
    const prj = await project(s);
    const a = await accountWith(s, Role.MEMBER, prj);
    const b = await accountWith(s, Role.MEMBER, prj);
    const token = await tokenOf(s, a, prj);
    await expectGrpcError(
      s.iam(token).resetAccountSecret({ account: b.name }),
      Code.NotFound,
      "ACCOUNT_NOT_FOUND",
      "account",
    );
    const reset = await s.iam(token).resetAccountSecret({ account: a.name });
    assert.ok(reset.secret.startsWith("mlg_"));
    await expectGrpcError(tokenOf(s, a, prj), Code.Unauthenticated, "CREDENTIALS_INVALID");
    await tokenOf(s, { name: a.name, secret: reset.secret }, prj);
  });

  test("the last global admin cannot be revoked, disabled or deleted", async () => {
    const s = server();
    const me = s.admin.accountName;
    await expectGrpcError(
      s.iam().revokeRole({ account: me, role: Role.ADMIN }),
      Code.FailedPrecondition,
      "LAST_ADMIN",
    );
    await expectGrpcError(
      s.iam().updateAccount({ account: me, disabled: true, updateMask: { paths: ["disabled"] } }),
      Code.FailedPrecondition,
      "LAST_ADMIN",
    );
    await expectGrpcError(
      s.iam().deleteAccount({ account: me }),
      Code.FailedPrecondition,
      "LAST_ADMIN",
    );
    const second = await accountWith(s, Role.ADMIN, "");
    await s.iam().revokeRole({ account: second.name, role: Role.ADMIN });
  });

  test("a request_id replays the first result; reused for another request it is refused", async () => {
    const s = server();
    const name = unique("idem");
    const first = await s
      .iam()
      .createAccount({ requestId: `r-${name}`, name, kind: AccountKind.USER });
    const again = await s
      .iam()
      .createAccount({ requestId: `r-${name}`, name, kind: AccountKind.USER });
    assert.equal(again.account?.uuid, first.account?.uuid);
    assert.ok(first.secret.startsWith("mlg_"));
    assert.equal(again.secret, "", "a replay never shows the secret again");
    await expectGrpcError(
      s.iam().createAccount({ requestId: `r-${name}`, name: `${name}-2`, kind: AccountKind.USER }),
      Code.InvalidArgument,
      "REQUEST_ID_REUSED",
      "request_id",
    );
    const prj = await project(s);
    const grant = { requestId: `g-${name}`, account: name, project: prj, role: Role.READER };
    await s.iam().grantRole(grant);
    await s.iam().grantRole(grant);
  });

  test("lists page through every item once", async () => {
    const s = server();
    const prefix = unique("page");
    for (let i = 0; i < 5; i++) await s.iam().createProject({ name: `${prefix}-${i}` });
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await s.iam().listProjects({ pageSize: 2, pageToken });
      assert.ok(page.projects.length <= 2);
      seen.push(...page.projects.map((p) => p.name));
      pageToken = page.nextPageToken;
    } while (pageToken);
    assert.equal(new Set(seen).size, seen.length);
    for (let i = 0; i < 5; i++) assert.ok(seen.includes(`${prefix}-${i}`));
  });

  test("remote key source and project directory answer like the local ones", async () => {
    const s = server();
    const transport = createGrpcTransport({ baseUrl: s.url });
    const verifier = new TokenVerifier(new RemoteKeySource(transport));
    const admin = await verifier.verify(s.admin.token);
    assert.equal(admin.accountName, s.admin.accountName);
    const directory = new RemoteProjectDirectory(transport);
    const prj = await project(s);
    const hidden = await project(s);
    const found = await directory.findProject({ principal: admin, token: s.admin.token }, prj);
    assert.equal(found?.name, prj);
    const readerToken = await tokenOf(s, await accountWith(s, Role.READER, prj), prj);
    const reader = { principal: await verifier.verify(readerToken), token: readerToken };
    assert.equal(await directory.findProject(reader, hidden), undefined);
    const many = await directory.getProjects(reader, [found?.uuid ?? "", newUuid()]);
    assert.deepEqual(
      [...many.values()].map((p) => p.name),
      [prj],
    );
  });

  test("Configure reads and changes the log level", async () => {
    const s = server();
    const read = await s.iam().configure({});
    assert.ok(read.settings?.logLevel);
    const set = await s
      .iam()
      .configure({ settings: { logLevel: "warn" }, updateMask: { paths: ["log_level"] } });
    assert.equal(set.settings?.logLevel, "warn");
    await s.iam().configure({ settings: read.settings, updateMask: { paths: ["log_level"] } });
  });

  const fixture = { account: "", project: "", child: "" };
  before(async () => {
    const s = server();
    fixture.account = unique("fixture");
    fixture.project = unique("fixture-prj");
    fixture.child = unique("fixture-child");
    await s.iam().createAccount({ name: fixture.account, kind: AccountKind.USER });
    await s.iam().createProject({ name: fixture.project });
    await s.iam().createProject({ name: fixture.child, parent: fixture.project });
    await s
      .iam()
      .grantRole({ account: fixture.account, project: fixture.project, role: Role.READER });
  });

  type Case = [
    title: string,
    call: (s: TestServer) => Promise<unknown>,
    code: Code,
    reason: string,
    field?: string,
  ];
  const INVALID = Code.InvalidArgument;
  const cases: Case[] = [
    [
      "account name missing",
      (s) => s.iam().createAccount({ kind: AccountKind.USER }),
      INVALID,
      "FIELD_REQUIRED",
      "name",
    ],
    [
      "account name malformed",
      (s) => s.iam().createAccount({ name: "-x", kind: AccountKind.USER }),
      INVALID,
      "NAME_INVALID",
      "name",
    ],
    [
      "account name with space",
      (s) => s.iam().createAccount({ name: "a b", kind: AccountKind.USER }),
      INVALID,
      "NAME_INVALID",
      "name",
    ],
    [
      "account name too long",
      (s) => s.iam().createAccount({ name: "a".repeat(64), kind: AccountKind.USER }),
      INVALID,
      "FIELD_TOO_LONG",
      "name",
    ],
    [
      "account kind unknown",
      (s) => s.iam().createAccount({ name: unique("k"), kind: 99 as AccountKind }),
      INVALID,
      "ENUM_UNKNOWN",
      "kind",
    ],
    [
      "account kind missing",
      (s) => s.iam().createAccount({ name: unique("k") }),
      INVALID,
      "FIELD_REQUIRED",
      "kind",
    ],
    [
      "description too long",
      (s) =>
        s.iam().createAccount({
          name: unique("d"),
          kind: AccountKind.USER,
          description: "x".repeat(1025),
        }),
      INVALID,
      "FIELD_TOO_LONG",
      "description",
    ],
    [
      "description control chars",
      (s) =>
        s
          .iam()
          .createAccount({ name: unique("d"), kind: AccountKind.USER, description: "a\u0001b" }),
      INVALID,
      "FIELD_INVALID",
      "description",
    ],
    [
      "request_id malformed",
      (s) =>
        s.iam().createAccount({ requestId: "bad id!", name: unique("r"), kind: AccountKind.USER }),
      INVALID,
      "REQUEST_ID_INVALID",
      "request_id",
    ],
    [
      "duplicate account",
      (s) => s.iam().createAccount({ name: fixture.account, kind: AccountKind.USER }),
      Code.AlreadyExists,
      "ACCOUNT_ALREADY_EXISTS",
      "name",
    ],
    [
      "duplicate project",
      (s) => s.iam().createProject({ name: fixture.project }),
      Code.AlreadyExists,
      "PROJECT_ALREADY_EXISTS",
      "name",
    ],
    [
      "unknown parent",
      (s) => s.iam().createProject({ name: unique("p"), parent: unique("nope") }),
      Code.NotFound,
      "PROJECT_NOT_FOUND",
      "parent",
    ],
    [
      "malformed parent",
      (s) => s.iam().createProject({ name: unique("p"), parent: "a/b" }),
      INVALID,
      "REF_INVALID",
      "parent",
    ],
    ["account ref missing", (s) => s.iam().getAccount({}), INVALID, "FIELD_REQUIRED", "account"],
    [
      "account ref malformed",
      (s) => s.iam().getAccount({ account: "no such" }),
      INVALID,
      "REF_INVALID",
      "account",
    ],
    [
      "unknown account",
      (s) => s.iam().getAccount({ account: unique("ghost") }),
      Code.NotFound,
      "ACCOUNT_NOT_FOUND",
      "account",
    ],
    [
      "unknown project",
      (s) => s.iam().getProject({ project: unique("ghost") }),
      Code.NotFound,
      "PROJECT_NOT_FOUND",
      "project",
    ],
    [
      "page token garbage",
      (s) => s.iam().listAccounts({ pageToken: "!!!" }),
      INVALID,
      "PAGE_TOKEN_INVALID",
      "page_token",
    ],
    [
      "page token not ours",
      (s) => s.iam().listProjects({ pageToken: Buffer.from("[1]").toString("base64url") }),
      INVALID,
      "PAGE_TOKEN_INVALID",
      "page_token",
    ],
    [
      "page size negative",
      (s) => s.iam().listAccounts({ pageSize: -1 }),
      INVALID,
      "PAGE_SIZE_INVALID",
      "page_size",
    ],
    [
      "page size too big",
      (s) => s.iam().listRoleBindings({ pageSize: 1001 }),
      INVALID,
      "PAGE_SIZE_INVALID",
      "page_size",
    ],
    [
      "list kind unknown",
      (s) => s.iam().listAccounts({ kind: 7 as AccountKind }),
      INVALID,
      "ENUM_UNKNOWN",
      "kind",
    ],
    [
      "update without mask",
      (s) => s.iam().updateAccount({ account: fixture.account, description: "x" }),
      INVALID,
      "FIELD_REQUIRED",
      "update_mask",
    ],
    [
      "update of a fixed field",
      (s) => s.iam().updateAccount({ account: fixture.account, updateMask: { paths: ["name"] } }),
      INVALID,
      "UPDATE_MASK_INVALID",
      "update_mask",
    ],
    [
      "project update of parent",
      (s) => s.iam().updateProject({ project: fixture.project, updateMask: { paths: ["parent"] } }),
      INVALID,
      "UPDATE_MASK_INVALID",
      "update_mask",
    ],
    [
      "role missing",
      (s) => s.iam().grantRole({ account: fixture.account, project: fixture.project }),
      INVALID,
      "FIELD_REQUIRED",
      "role",
    ],
    [
      "role unknown",
      (s) =>
        s.iam().grantRole({ account: fixture.account, project: fixture.project, role: 42 as Role }),
      INVALID,
      "ENUM_UNKNOWN",
      "role",
    ],
    [
      "member bound globally",
      (s) => s.iam().grantRole({ account: fixture.account, role: Role.MEMBER }),
      INVALID,
      "ROLE_NOT_GLOBAL",
      "project",
    ],
    [
      "duplicate binding",
      (s) =>
        s
          .iam()
          .grantRole({ account: fixture.account, project: fixture.project, role: Role.READER }),
      Code.AlreadyExists,
      "ROLE_BINDING_ALREADY_EXISTS",
      "role",
    ],
    [
      "revoke of a missing binding",
      (s) =>
        s.iam().revokeRole({ account: fixture.account, project: fixture.child, role: Role.READER }),
      Code.NotFound,
      "ROLE_BINDING_NOT_FOUND",
      "role",
    ],
    [
      "grant to unknown account",
      (s) =>
        s
          .iam()
          .grantRole({ account: unique("ghost"), project: fixture.project, role: Role.READER }),
      Code.NotFound,
      "ACCOUNT_NOT_FOUND",
      "account",
    ],
    [
      "project with children",
      (s) => s.iam().deleteProject({ project: fixture.project }),
      Code.FailedPrecondition,
      "PROJECT_HAS_CHILDREN",
    ],
    [
      "authenticate without account",
      (s) => s.iam("").authenticate({ secret: "x" }),
      INVALID,
      "FIELD_REQUIRED",
      "account",
    ],
    [
      "authenticate without secret",
      (s) => s.iam("").authenticate({ account: fixture.account }),
      INVALID,
      "FIELD_REQUIRED",
      "secret",
    ],
    [
      "authenticate with huge secret",
      (s) => s.iam("").authenticate({ account: fixture.account, secret: "x".repeat(300) }),
      INVALID,
      "FIELD_TOO_LONG",
      "secret",
    ],
    [
      "bootstrap name malformed",
      (s) => s.iam("").bootstrap({ accountName: "bad name" }),
      INVALID,
      "NAME_INVALID",
      "account_name",
    ],
    [
      "configure bad level",
      (s) =>
        s.iam().configure({ settings: { logLevel: "loud" }, updateMask: { paths: ["log_level"] } }),
      INVALID,
      "LOG_LEVEL_INVALID",
      "settings.log_level",
    ],
    [
      "configure unknown setting",
      (s) => s.iam().configure({ updateMask: { paths: ["color"] } }),
      INVALID,
      "UPDATE_MASK_INVALID",
      "update_mask",
    ],
    ["no token", (s) => s.iam("").listAccounts({}), Code.Unauthenticated, "TOKEN_MISSING"],
  ];
  for (const [title, call, code, reason, field] of cases)
    test(`bad input: ${title}`, async () => {
      await expectGrpcError(call(server()), code, reason, field);
    });
});

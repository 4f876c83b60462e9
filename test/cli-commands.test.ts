/**
 * The client commands of the `mulligan` executable, spawned for real against a bootstrapped
 * server on both stores: projects, accounts, roles, property definitions, objects, tags,
 * runtime settings and a `--request-id` replay. Output is read as JSON where content matters;
 * each command's exit code and its one-line error are asserted. Fixtures and after-effects are
 * checked over gRPC, so each CLI spawn tests a command.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { exits, mulligan, type Run } from "./cli-helpers.js";
import { expectGrpcError, forEachStore } from "./harness.js";

type Json = Record<string, unknown>;

/** The run's stdout as JSON, after asserting it succeeded. */
function json<T = Json>(run: Run): T {
  exits(run, 0);
  return JSON.parse(run.stdout) as T;
}

/** Asserts a failed run: the exit code, one error line matching `line`, nothing on stdout. */
function fails(run: Run, code: number, line: RegExp): void {
  exits(run, code);
  assert.match(run.stderr, line);
  assert.equal(run.stderr.split("\n").length, 2, `one line: ${run.stderr}`);
  assert.equal(run.stdout, "");
}

forEachStore("mulligan client commands", (srv) => {
  const config = mkdtempSync(join(tmpdir(), "mulligan-cli-"));
  /** Runs a command as the bootstrap admin, server and token given as flags. */
  const cli = (...args: string[]) =>
    mulligan(config, ["--server", srv().url, "--token", srv().admin.token, ...args]);
  const created: Record<string, Json> = {};

  before(async () => {
    // Bootstrap over gRPC makes no region (the CLI's bootstrap does).
    await srv().meta().createRegion({ name: "east-1" });
    await srv().meta().createRegion({ name: "west-1" });
  });
  after(() => rmSync(config, { recursive: true, force: true }));

  it("project create (replayed by --request-id, with --parent) / list / show / update", async () => {
    const args = ["project", "create", "tenant-a", "--description", "first tenant", "-o", "json"];
    const first = json(await cli(...args, "--request-id", "create-tenant-a"));
    assert.equal(first.name, "tenant-a");
    assert.equal(first.description, "first tenant");
    // The same request id again is answered from the request log: the same project, not a
    // second one and not ALREADY_EXISTS.
    assert.deepEqual(json(await cli(...args, "--request-id", "create-tenant-a")), first);

    const team = json(
      await cli("project", "create", "team-1", "--parent", "tenant-a", "-o", "json"),
    );
    assert.deepEqual(
      { name: team.name, parentName: team.parentName, parentUuid: team.parentUuid },
      { name: "team-1", parentName: "tenant-a", parentUuid: first.uuid },
    );
    created.tenant = first;

    const list = json<Json[]>(await cli("project", "list", "-o", "json"));
    assert.deepEqual(
      list.map((p) => [p.name, p.parentName]),
      [
        ["admin", ""],
        ["team-1", "tenant-a"],
        ["tenant-a", ""],
      ],
    );

    const shown = json(await cli("project", "show", String(team.uuid), "-o", "json"));
    assert.deepEqual(shown, team);

    const updated = json(
      await cli("project", "update", "team-1", "--description", "blue team", "-o", "json"),
    );
    assert.equal(updated.description, "blue team");
    assert.equal(updated.uuid, team.uuid);
    assert.equal(updated.parentName, "tenant-a");
  });

  it("project delete refuses a project with sub-projects (exit 7) and deletes a leaf", async () => {
    fails(
      await cli("project", "delete", "tenant-a"),
      7,
      /^error: FAILED_PRECONDITION PROJECT_HAS_CHILDREN: project "tenant-a" has sub-projects\n$/,
    );
    const run = await cli("project", "delete", "team-1");
    exits(run, 0);
    assert.equal(run.stdout, "deleted project team-1\n");
    await expectGrpcError(
      srv().iam().getProject({ project: "team-1" }),
      Code.NotFound,
      "PROJECT_NOT_FOUND",
    );
    await srv().iam().getProject({ project: "tenant-a" });
  });

  it("account create -o json prints a secret that logs in after a role grant", async () => {
    const out = json<{ account: Json; secret: string }>(
      await cli("account", "create", "alice", "--description", "on call", "-o", "json"),
    );
    assert.deepEqual(
      {
        name: out.account.name,
        kind: out.account.kind,
        description: out.account.description,
        disabled: out.account.disabled,
      },
      { name: "alice", kind: "ACCOUNT_KIND_USER", description: "on call", disabled: false },
    );
    assert.match(out.secret, /^mlg_\S{16,}$/);
    created.alice = { ...out.account, secret: out.secret };

    const binding = json(
      await cli("role", "grant", "alice", "member", "--project", "tenant-a", "-o", "json"),
    );
    assert.deepEqual(
      [binding.accountName, binding.projectName, binding.role],
      ["alice", "tenant-a", "ROLE_MEMBER"],
    );

    const home = mkdtempSync(join(tmpdir(), "mulligan-cli-alice-"));
    try {
      const login = json(
        await mulligan(
          home,
          [
            "--server",
            srv().url,
            "login",
            "--account",
            "alice",
            "--project",
            "tenant-a",
            "--secret-stdin",
            "-o",
            "json",
          ],
          `${out.secret}\n`,
        ),
      );
      assert.deepEqual(
        [login.account, login.project, login.roles, login.credentials],
        ["alice", "tenant-a", ["member"], join(home, "credentials.json")],
      );
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it("account list / show", async () => {
    const list = json<Json[]>(await cli("account", "list", "-o", "json"));
    assert.deepEqual(
      list.map((a) => [a.name, a.kind, a.disabled]),
      [
        ["admin", "ACCOUNT_KIND_USER", false],
        ["alice", "ACCOUNT_KIND_USER", false],
      ],
    );
    const shown = json(await cli("account", "show", "alice", "-o", "json"));
    const { secret: _secret, ...alice } = created.alice ?? {};
    assert.deepEqual(shown, alice);
  });

  it("role grant --global / list --account / revoke, and a grant without a scope (exit 2)", async () => {
    const global = json(await cli("role", "grant", "alice", "reader", "--global", "-o", "json"));
    assert.deepEqual(
      [global.accountName, global.projectUuid, global.projectName, global.role],
      ["alice", "", "", "ROLE_READER"],
    );
    const list = json<Json[]>(await cli("role", "list", "--account", "alice", "-o", "json"));
    assert.deepEqual(list.map((b) => [b.accountName, b.projectName, b.role]).sort(), [
      ["alice", "", "ROLE_READER"],
      ["alice", "tenant-a", "ROLE_MEMBER"],
    ]);

    const revoked = await cli("role", "revoke", "alice", "reader", "--global");
    exits(revoked, 0);
    assert.equal(revoked.stdout, "revoked reader from alice\n");
    const { bindings } = await srv().iam().listRoleBindings({ account: "alice" });
    assert.deepEqual(
      bindings.map((b) => b.projectName),
      ["tenant-a"],
    );

    fails(
      await cli("role", "grant", "alice", "admin"),
      2,
      /^error: give exactly one of --project P and --global\n$/,
    );
  });

  it("account reset-secret: the old secret is refused (exit 6), the new one works", async () => {
    const old = String(created.alice?.secret);
    const out = json<{ account: Json; secret: string }>(
      await cli("account", "reset-secret", "alice", "-o", "json"),
    );
    assert.equal(out.account.uuid, created.alice?.uuid);
    assert.match(out.secret, /^mlg_\S{16,}$/);
    assert.notEqual(out.secret, old);

    const home = mkdtempSync(join(tmpdir(), "mulligan-cli-alice-"));
    try {
      fails(
        await mulligan(
          home,
          ["--server", srv().url, "login", "--account", "alice", "--secret-stdin"],
          old,
        ),
        6,
        /^error: UNAUTHENTICATED CREDENTIALS_INVALID: /,
      );
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
    const auth = await srv()
      .iam("")
      .authenticate({ account: "alice", secret: out.secret, project: "tenant-a" });
    assert.ok(auth.token);
    created.alice = { ...out.account, secret: out.secret };
  });

  it("account update --disable / delete", async () => {
    const updated = json(
      await cli("account", "update", "alice", "--disable", "--description", "left", "-o", "json"),
    );
    assert.deepEqual(
      [updated.name, updated.disabled, updated.description],
      ["alice", true, "left"],
    );
    await expectGrpcError(
      srv()
        .iam("")
        .authenticate({ account: "alice", secret: String(created.alice?.secret), project: "" }),
      Code.Unauthenticated,
      "CREDENTIALS_INVALID",
    );

    const run = await cli("account", "delete", "alice");
    exits(run, 0);
    assert.equal(run.stdout, "deleted account alice\n");
    await expectGrpcError(
      srv().iam().getAccount({ account: "alice" }),
      Code.NotFound,
      "ACCOUNT_NOT_FOUND",
    );
  });

  it("property define (bounds, enum) / list", async () => {
    const cores = json(
      await cli(
        "property",
        "define",
        "provider",
        "cores",
        "--type",
        "integer",
        "--minimum",
        "1",
        "--maximum",
        "512",
        "--description",
        "physical cores",
        "-o",
        "json",
      ),
    );
    assert.deepEqual(
      [cores.kind, cores.key, cores.description, cores.schema],
      [
        "OBJECT_KIND_PROVIDER",
        "cores",
        "physical cores",
        {
          type: "PROPERTY_TYPE_INTEGER",
          allowedValues: [],
          minimum: 1,
          maximum: 512,
          pattern: "",
          format: "",
        },
      ],
    );
    const tier = json(
      await cli(
        "property",
        "define",
        "provider",
        "tier",
        "--type",
        "string",
        "--enum",
        "gold",
        "--enum",
        "silver",
        "-o",
        "json",
      ),
    );
    assert.deepEqual(tier.schema, {
      type: "PROPERTY_TYPE_STRING",
      allowedValues: ["gold", "silver"],
      pattern: "",
      format: "",
    });

    const list = json<Json[]>(await cli("property", "list", "--kind", "provider", "-o", "json"));
    assert.deepEqual(list, [cores, tier]);
  });

  it("object register (fleet and project objects, tags, properties) / show by name and UUID", async () => {
    const hv = json(
      await cli(
        "object",
        "register",
        "provider",
        "hv-01",
        "--region",
        "east-1",
        "--tag",
        "gpu",
        "--property",
        "cores=64",
        "--property",
        "tier=gold",
        "-o",
        "json",
      ),
    );
    assert.deepEqual(
      [hv.kind, hv.name, hv.slug, hv.projectName, hv.regionName, hv.tags, hv.properties],
      [
        "OBJECT_KIND_PROVIDER",
        "hv-01",
        "hv-01",
        "",
        "east-1",
        ["gpu"],
        { cores: 64, tier: "gold" },
      ],
    );
    const machine = json(
      await cli(
        "object",
        "register",
        "machine",
        "m-1",
        "--project",
        "tenant-a",
        "--region",
        "east-1",
        "--tag",
        "web",
        "-o",
        "json",
      ),
    );
    assert.deepEqual(
      [machine.kind, machine.projectName, machine.projectUuid, machine.tags],
      ["OBJECT_KIND_MACHINE", "tenant-a", created.tenant?.uuid, ["web"]],
    );
    created.hv = hv;
    created.machine = machine;

    assert.deepEqual(
      json(await cli("object", "show", "hv-01", "--kind", "provider", "-o", "json")),
      hv,
    );
    assert.deepEqual(
      json(await cli("object", "show", String(machine.uuid), "-o", "json")),
      machine,
    );
  });

  it("object list filters by region, tag and property; lookup reports NOT_FOUND per ref", async () => {
    const { hv, machine } = created;
    const list = json<Json[]>(
      await cli(
        "object",
        "list",
        "--region",
        "east-1",
        "--tag",
        "gpu",
        "--property",
        "tier=gold",
        "-o",
        "json",
      ),
    );
    assert.deepEqual(
      list.map((o) => o.uuid),
      [hv?.uuid],
    );

    const lookup = json<{ ref: string; object?: Json; reason: string }[]>(
      await cli("object", "lookup", "hv-01", String(machine?.uuid), "nothing", "-o", "json"),
    );
    assert.deepEqual(
      lookup.map((r) => [r.ref, r.object?.uuid, r.reason]),
      [
        ["hv-01", hv?.uuid, ""],
        [machine?.uuid, machine?.uuid, ""],
        ["nothing", undefined, "NOT_FOUND"],
      ],
    );
  });

  it("property set: a value out of bounds exits 3 with PROPERTY_INVALID; a valid one is stored", async () => {
    fails(
      await cli("property", "set", "hv-01", "--kind", "provider", "cores=1024"),
      3,
      /^error: INVALID_ARGUMENT PROPERTY_INVALID \(field properties\.cores\): .*512/,
    );
    const set = json(
      await cli(
        "property",
        "set",
        "hv-01",
        "--kind",
        "provider",
        "cores=128",
        "tier=null",
        "-o",
        "json",
      ),
    );
    assert.deepEqual(set.properties, { cores: 128 });
  });

  it("tag set replaces the tags; tag list prints one per line", async () => {
    const set = json(
      await cli("tag", "set", "hv-01", "--kind", "provider", "gpu", "fast", "-o", "json"),
    );
    assert.deepEqual(set.tags, ["fast", "gpu"]);
    const list = await cli("tag", "list", String(created.hv?.uuid));
    exits(list, 0);
    assert.equal(list.stdout, "fast\ngpu\n");
  });

  it("object update renames and moves; object delete; property delete", async () => {
    const updated = json(
      await cli(
        "object",
        "update",
        "hv-01",
        "--kind",
        "provider",
        "--name",
        "hv-02",
        "--region",
        "west-1",
        "-o",
        "json",
      ),
    );
    assert.deepEqual(
      [updated.uuid, updated.name, updated.slug, updated.regionName, updated.tags],
      [created.hv?.uuid, "hv-02", "hv-02", "west-1", ["fast", "gpu"]],
    );

    const deleted = await cli("object", "delete", "hv-02", "--kind", "provider");
    exits(deleted, 0);
    assert.equal(deleted.stdout, "deleted object hv-02\n");
    await expectGrpcError(
      srv()
        .meta()
        .getObject({ selector: { object: String(created.hv?.uuid) } }),
      Code.NotFound,
      "OBJECT_NOT_FOUND",
    );

    const dropped = await cli("property", "delete", "provider", "tier");
    exits(dropped, 0);
    assert.equal(dropped.stdout, "deleted property provider/tier\n");
    const { definitions } = await srv().meta().listPropertyDefinitions({});
    assert.deepEqual(
      definitions.map((d) => d.key),
      ["cores"],
    );
  });

  it("configure meta --log-level: a member's token is refused (exit 6), the admin's is obeyed", async () => {
    const member = await srv().tokenFor({ role: "member" });
    // Server and token from the environment this time.
    fails(
      await mulligan(config, ["configure", "meta", "--log-level", "debug"], undefined, {
        MULLIGAN_SERVER: srv().url,
        MULLIGAN_TOKEN: member,
      }),
      6,
      /^error: PERMISSION_DENIED ROLE_REQUIRED: /,
    );
    const before = await srv().meta().configure({});
    try {
      const out = json(await cli("configure", "meta", "--log-level", "debug", "-o", "json"));
      assert.deepEqual(out, { logLevel: "debug" });
    } finally {
      await srv()
        .meta()
        .configure({
          settings: { logLevel: before.settings?.logLevel ?? "silent" },
          updateMask: { paths: ["log_level"] },
        });
    }
  });
});

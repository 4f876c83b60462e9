/**
 * Strict tenancy of the object registry, over real gRPC on SQLite and PostgreSQL: a member of
 * project A cannot read, list, find, look up, change, tag, set properties on, delete or even
 * detect project B's objects (the answer is the same NOT_FOUND as for a UUID never used);
 * readers do not write; fleet objects and INTERNAL regions are for the fleet's operators only.
 */
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../src/gen/google/rpc/error_details_pb.js";
import {
  ObjectKind,
  PropertyType,
  type RegisteredObject,
  Visibility,
} from "../src/gen/mulligan/meta/v1/meta_pb.js";
import { newUuid } from "../src/platform/ids.js";
import { expectGrpcError, forEachStore, type TestServer } from "./harness.js";

/** The code, reason and field violations of a failed call, without the message (it names the ref). */
async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    const e = ConnectError.from(err);
    return `${e.code}:${e.findDetails(ErrorInfoSchema)[0]?.reason}`;
  }
  return "OK";
}

forEachStore("registry tenancy", (server) => {
  let s: TestServer;
  let memberA: string;
  let readerA: string;
  let memberB: string;
  let adminA: string;
  let executor: string;
  let objA: RegisteredObject;
  let objB: RegisteredObject;
  let fleetObj: RegisteredObject;
  const pub = "tn-public";
  const priv = "tn-private";

  before(async () => {
    s = server();
    await s.meta().createRegion({ name: pub, visibility: Visibility.EXTERNAL });
    await s.meta().createRegion({ name: priv, visibility: Visibility.INTERNAL });
    await s
      .meta()
      .createRegion({ name: "tn-public-child", parent: priv, visibility: Visibility.EXTERNAL });
    await s.meta().defineProperty({
      kind: ObjectKind.MACHINE,
      key: "owner",
      schema: { type: PropertyType.STRING },
    });
    memberA = await s.tokenFor({ role: "member", project: "tenant-a" });
    readerA = await s.tokenFor({ role: "reader", project: "tenant-a" });
    adminA = await s.tokenFor({ role: "admin", project: "tenant-a" });
    memberB = await s.tokenFor({ role: "member", project: "tenant-b" });
    executor = await s.tokenFor({ role: "executor", project: null, kind: "executor" });
    const register = async (token: string, name: string, project = "") =>
      (
        await s.meta(token).registerObject({
          kind: ObjectKind.MACHINE,
          name,
          project,
          region: pub,
          tags: ["shared-tag"],
          properties: { owner: name },
        })
      ).object ?? assert.fail("no object");
    objA = await register(memberA, "a-machine");
    objB = await register(memberB, "b-secret");
    fleetObj = await register(s.admin.token, "fleet-machine");
  });

  test("an object belongs to its registrant's token project, or the fleet for fleet managers", () => {
    assert.equal(objA.projectName, "tenant-a");
    assert.equal(objB.projectName, "tenant-b");
    assert.equal(fleetObj.projectUuid, "");
  });

  test("a member cannot read another project's object, and cannot tell it exists", async () => {
    const a = s.meta(memberA);
    const never = newUuid();
    const expected = `${Code.NotFound}:OBJECT_NOT_FOUND`;
    for (const ref of [objB.uuid, fleetObj.uuid, never]) {
      const selector = { object: ref };
      const calls = [
        () => a.getObject({ selector }),
        () => a.updateObject({ selector, name: "stolen", updateMask: { paths: ["name"] } }),
        () => a.deleteObject({ selector }),
        () => a.setTags({ selector, tags: ["mine"] }),
        () => a.setProperties({ selector, properties: { owner: "a" } }),
      ];
      for (const call of calls) assert.equal(await failure(call()), expected, ref);
    }
    // By name: B's name does not resolve in A's project, exactly like a name never used.
    for (const name of ["b-secret", "fleet-machine", "never-used"])
      await expectGrpcError(
        a.getObject({ selector: { object: name, kind: ObjectKind.MACHINE } }),
        Code.NotFound,
        "OBJECT_NOT_FOUND",
        "selector.object",
      );
    // Naming B's project answers like naming a project that does not exist.
    for (const project of ["tenant-b", "no-such-project", newUuid()])
      await expectGrpcError(
        a.getObject({ selector: { object: "b-secret", kind: ObjectKind.MACHINE, project } }),
        Code.NotFound,
        "PROJECT_NOT_FOUND",
        "selector.project",
      );
    // B's object is untouched.
    const b = (await s.meta(memberB).getObject({ selector: { object: objB.uuid } })).object;
    assert.equal(b?.name, "b-secret");
    assert.deepEqual(b?.tags, ["shared-tag"]);
    assert.deepEqual(b?.properties, { owner: "b-secret" });
  });

  test("another project's objects never appear in finds or lookups", async () => {
    const a = s.meta(memberA);
    const found = (await a.findObjects({ pageSize: 1000 })).objects.map((o) => o.uuid);
    assert.ok(found.includes(objA.uuid));
    assert.ok(!found.includes(objB.uuid));
    assert.ok(!found.includes(fleetObj.uuid));
    for (const filter of [
      { tags: ["shared-tag"] },
      { properties: { owner: "b-secret" } },
      { region: pub },
      { namePrefix: "b-" },
    ]) {
      const uuids = (await a.findObjects(filter)).objects.map((o) => o.uuid);
      assert.ok(!uuids.includes(objB.uuid), JSON.stringify(filter));
    }
    await expectGrpcError(
      a.findObjects({ project: "tenant-b" }),
      Code.NotFound,
      "PROJECT_NOT_FOUND",
      "project",
    );
    const looked = await a.lookupObjects({
      refs: [objB.uuid, "b-secret", fleetObj.uuid, "a-machine"],
    });
    assert.deepEqual(
      looked.results.map((r) => r.reason),
      ["NOT_FOUND", "NOT_FOUND", "NOT_FOUND", ""],
    );
    await expectGrpcError(
      a.lookupObjects({ refs: ["b-secret"], project: "tenant-b" }),
      Code.NotFound,
      "PROJECT_NOT_FOUND",
      "project",
    );
    // Fleet-seeing callers see every project.
    const all = (await s.meta().findObjects({ pageSize: 1000 })).objects.map((o) => o.uuid);
    for (const o of [objA, objB, fleetObj]) assert.ok(all.includes(o.uuid));
    const inB = (await s.meta().findObjects({ project: "tenant-b" })).objects;
    assert.deepEqual(
      inB.map((o) => [o.name, o.projectName]),
      [["b-secret", "tenant-b"]],
    );
  });

  test("a member cannot register into another project, but may reuse its names", async () => {
    const a = s.meta(memberA);
    await expectGrpcError(
      a.registerObject({ kind: ObjectKind.MACHINE, name: "x", project: "tenant-b", region: pub }),
      Code.NotFound,
      "PROJECT_NOT_FOUND",
      "project",
    );
    const mine = await a.registerObject({
      kind: ObjectKind.MACHINE,
      name: "b-secret",
      region: pub,
    });
    assert.equal(mine.object?.projectName, "tenant-a");
    assert.notEqual(mine.object?.uuid, objB.uuid);
    const byName = await a.getObject({
      selector: { object: "b-secret", kind: ObjectKind.MACHINE },
    });
    assert.equal(byName.object?.uuid, mine.object?.uuid);
    await a.deleteObject({
      selector: { object: "b-secret", kind: ObjectKind.MACHINE, project: "tenant-a" },
    });
  });

  test("readers read their project but do not write", async () => {
    const r = s.meta(readerA);
    assert.equal(
      (await r.getObject({ selector: { object: objA.uuid } })).object?.name,
      "a-machine",
    );
    assert.equal(
      await failure(r.getObject({ selector: { object: objB.uuid } })),
      `${Code.NotFound}:OBJECT_NOT_FOUND`,
    );
    const selector = { object: objA.uuid };
    for (const call of [
      () => r.registerObject({ kind: ObjectKind.MACHINE, name: "r", region: pub }),
      () => r.updateObject({ selector, name: "r", updateMask: { paths: ["name"] } }),
      () => r.deleteObject({ selector }),
      () => r.setTags({ selector, tags: [] }),
      () => r.setProperties({ selector, properties: {} }),
    ])
      await expectGrpcError(call(), Code.PermissionDenied, "ROLE_REQUIRED");
  });

  test("members change their own project's objects only, never fleet objects or regions", async () => {
    const a = s.meta(memberA);
    const tagged = await a.setTags({ selector: { object: objA.uuid }, tags: ["x", "a"] });
    assert.deepEqual(tagged.object?.tags, ["a", "x"]);
    const region = (await a.getRegion({ region: pub })).region;
    assert.ok(region);
    await expectGrpcError(
      a.setTags({ selector: { object: region.uuid }, tags: ["x"] }),
      Code.PermissionDenied,
      "FLEET_ROLE_REQUIRED",
    );
    await expectGrpcError(a.createRegion({ name: "mine" }), Code.PermissionDenied, "ROLE_REQUIRED");
    // A project-scoped admin passes the role check but is no fleet manager.
    const pa = s.meta(adminA);
    await expectGrpcError(
      pa.createRegion({ name: "mine" }),
      Code.PermissionDenied,
      "FLEET_ROLE_REQUIRED",
    );
    await expectGrpcError(
      pa.defineProperty({
        kind: ObjectKind.MACHINE,
        key: "k",
        schema: { type: PropertyType.STRING },
      }),
      Code.PermissionDenied,
      "FLEET_ROLE_REQUIRED",
    );
    await expectGrpcError(
      pa.deleteRegion({ region: pub }),
      Code.PermissionDenied,
      "FLEET_ROLE_REQUIRED",
    );
    assert.equal(
      await failure(pa.getObject({ selector: { object: objB.uuid } })),
      `${Code.NotFound}:OBJECT_NOT_FOUND`,
    );
  });

  test("INTERNAL regions are invisible to members and readers; EXTERNAL ones are visible", async () => {
    for (const token of [memberA, readerA]) {
      const m = s.meta(token);
      assert.equal((await m.getRegion({ region: pub })).region?.name, pub);
      await expectGrpcError(
        m.getRegion({ region: priv }),
        Code.NotFound,
        "REGION_NOT_FOUND",
        "region",
      );
      const listed = (await m.listRegions({ pageSize: 1000 })).regions.map((r) => r.name);
      assert.ok(listed.includes(pub));
      assert.ok(!listed.includes(priv));
      await expectGrpcError(
        m.listRegions({ parent: priv }),
        Code.NotFound,
        "REGION_NOT_FOUND",
        "parent",
      );
      // An EXTERNAL region below an INTERNAL one does not reveal its parent.
      const child = (await m.getRegion({ region: "tn-public-child" })).region;
      assert.equal(child?.parentUuid, "");
      assert.equal(child?.parentName, "");
    }
    await expectGrpcError(
      s.meta(memberA).registerObject({ kind: ObjectKind.MACHINE, name: "hidden", region: priv }),
      Code.NotFound,
      "REGION_NOT_FOUND",
      "region",
    );
    const lookup = await s.meta(memberA).lookupObjects({ refs: [pub, priv] });
    assert.deepEqual(
      lookup.results.map((r) => r.reason),
      ["", "NOT_FOUND"],
    );
    // An executor runs the fleet's hosts, so it sees INTERNAL regions too.
    assert.equal((await s.meta(executor).getRegion({ region: priv })).region?.name, priv);
    // The fleet sees both, and the child's parent.
    const listed = (await s.meta().listRegions({ pageSize: 1000 })).regions.map((r) => r.name);
    assert.ok(listed.includes(priv) && listed.includes(pub));
    assert.equal(
      (await s.meta().getRegion({ region: "tn-public-child" })).region?.parentName,
      priv,
    );
  });

  test("executors reach regions but not the object registry", async () => {
    await expectGrpcError(
      s.meta(executor).getObject({ selector: { object: objA.uuid } }),
      Code.PermissionDenied,
      "ROLE_REQUIRED",
    );
    await expectGrpcError(s.meta(executor).findObjects({}), Code.PermissionDenied, "ROLE_REQUIRED");
  });
});

/**
 * MetadataService over real gRPC, on SQLite and PostgreSQL: the region hierarchy, registry
 * objects by UUID, name and slug, tags, property definitions and validation, batch lookups,
 * filtered and paginated finds, idempotency, and a table of bad inputs with their exact code
 * and reason. Tenancy is in tenancy.test.ts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fromJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { ObjectKind, PropertyType, Visibility } from "../src/gen/mulligan/meta/v1/meta_pb.js";
import { newUuid } from "../src/platform/ids.js";
import { expectGrpcError, forEachStore } from "./harness.js";

let seq = 0;
const unique = (prefix: string) => `${prefix}-${++seq}`;
const values = (...list: (string | number | boolean)[]) =>
  list.map((v) => fromJson(ValueSchema, v));

forEachStore("MetadataService", (server) => {
  const meta = () => server().meta();

  async function region(parent = "", visibility = Visibility.INTERNAL) {
    const res = await meta().createRegion({ name: unique("rg"), parent, visibility });
    return res.region ?? assert.fail("no region");
  }

  async function object(
    regionName: string,
    fields: {
      kind?: ObjectKind;
      name?: string;
      project?: string;
      tags?: string[];
      properties?: Record<string, string | number | boolean>;
    } = {},
  ) {
    const res = await meta().registerObject({
      kind: fields.kind ?? ObjectKind.PROVIDER,
      name: fields.name ?? unique("obj"),
      project: fields.project ?? "",
      region: regionName,
      tags: fields.tags ?? [],
      properties: fields.properties ?? {},
    });
    return res.object ?? assert.fail("no object");
  }

  test("regions form a hierarchy addressed by name, slug or UUID", async () => {
    const top = (
      await meta().createRegion({ name: unique("EU_Top"), failureDomain: { power: "p1" } })
    ).region;
    assert.ok(top);
    assert.equal(top.slug, top.name.toLowerCase().replace(/_/g, "-"));
    assert.equal(top.visibility, Visibility.INTERNAL, "unspecified visibility means INTERNAL");
    assert.equal(top.parentUuid, "");
    const bySlug = await region(top.slug);
    const byUuid = await region(top.uuid, Visibility.EXTERNAL);
    const grandchild = await region(bySlug.name);
    assert.equal(bySlug.parentUuid, top.uuid);
    assert.equal(bySlug.parentName, top.name);
    assert.equal(byUuid.visibility, Visibility.EXTERNAL);
    assert.equal(grandchild.parentName, bySlug.name);
    for (const ref of [top.uuid, top.name, top.slug, top.uuid.toUpperCase()])
      assert.equal((await meta().getRegion({ region: ref })).region?.uuid, top.uuid, ref);
    assert.deepEqual((await meta().getRegion({ region: top.name })).region?.failureDomain, {
      $typeName: "mulligan.meta.v1.FailureDomain",
      power: "p1",
      network: "",
    });

    // Direct children only, one per page.
    const seen: string[] = [];
    let pageToken = "";
    do {
      const res = await meta().listRegions({ parent: top.name, pageSize: 1, pageToken });
      assert.ok(res.regions.length <= 1);
      seen.push(...res.regions.map((r) => r.name));
      pageToken = res.nextPageToken;
    } while (pageToken);
    assert.deepEqual(seen, [bySlug.name, byUuid.name].sort());
    const all = (await meta().listRegions({ pageSize: 1000 })).regions.map((r) => r.name);
    for (const r of [top, bySlug, byUuid, grandchild]) assert.ok(all.includes(r.name));
    assert.deepEqual(all, [...all].sort());
  });

  test("region names and slugs are unique", async () => {
    const r = await region();
    await expectGrpcError(
      meta().createRegion({ name: r.name }),
      Code.AlreadyExists,
      "REGION_ALREADY_EXISTS",
      "name",
    );
    await expectGrpcError(
      meta().createRegion({ name: r.name.replace("-", "_") }),
      Code.AlreadyExists,
      "REGION_ALREADY_EXISTS",
      "name",
    );
  });

  test("UpdateRegion changes only the masked fields and refuses cycles", async () => {
    const top = await region();
    const child = await region(top.name);
    const leaf = await region(child.name);
    const updated = (
      await meta().updateRegion({
        region: top.name,
        description: "first site",
        visibility: Visibility.EXTERNAL,
        failureDomain: { power: "feed-a", network: "ignored" },
        updateMask: { paths: ["description", "visibility", "failure_domain.power"] },
      })
    ).region;
    assert.equal(updated?.description, "first site");
    assert.equal(updated?.visibility, Visibility.EXTERNAL);
    assert.equal(updated?.failureDomain?.power, "feed-a");
    assert.equal(updated?.failureDomain?.network, "");
    assert.equal((await meta().getRegion({ region: top.uuid })).region?.description, "first site");

    for (const parent of [top.name, child.slug, leaf.uuid])
      await expectGrpcError(
        meta().updateRegion({ region: top.name, parent, updateMask: { paths: ["parent"] } }),
        Code.InvalidArgument,
        "REGION_CYCLE",
        "parent",
      );
    // Moving the leaf to the top and the top below it is fine.
    const moved = await meta().updateRegion({
      region: leaf.name,
      updateMask: { paths: ["parent"] },
    });
    assert.equal(moved.region?.parentUuid, "");
    const below = await meta().updateRegion({
      region: top.name,
      parent: leaf.name,
      updateMask: { paths: ["parent"] },
    });
    assert.equal(below.region?.parentName, leaf.name);
  });

  test("DeleteRegion is refused while the region holds regions or objects", async () => {
    const top = await region();
    const child = await region(top.name);
    await expectGrpcError(
      meta().deleteRegion({ region: top.name }),
      Code.FailedPrecondition,
      "REGION_IN_USE",
    );
    const o = await object(child.name);
    await expectGrpcError(
      meta().deleteRegion({ region: child.uuid }),
      Code.FailedPrecondition,
      "REGION_IN_USE",
    );
    await meta().deleteObject({ selector: { object: o.uuid } });
    // Tags and properties of a region go with it.
    await meta().defineProperty({
      kind: ObjectKind.REGION,
      key: "site",
      schema: { type: PropertyType.STRING },
    });
    await meta().setTags({ selector: { object: child.uuid }, tags: ["doomed"] });
    await meta().setProperties({ selector: { object: child.uuid }, properties: { site: "x" } });
    await meta().deleteRegion({ region: child.slug });
    await meta().deletePropertyDefinition({ kind: ObjectKind.REGION, key: "site" });
    await meta().deleteRegion({ region: top.name });
    await expectGrpcError(
      meta().getRegion({ region: top.uuid }),
      Code.NotFound,
      "REGION_NOT_FOUND",
      "region",
    );
  });

  test("objects are registered, read, renamed, moved and deleted by UUID, name or slug", async () => {
    const r1 = await region();
    const r2 = await region();
    const admin = server().admin;
    const o = await object(r1.name, {
      name: "Host_One",
      project: admin.projectName,
      tags: ["b", "a", "b"],
    });
    assert.equal(o.kind, ObjectKind.PROVIDER);
    assert.equal(o.slug, "host-one");
    assert.equal(o.projectName, admin.projectName);
    assert.ok(o.projectUuid);
    assert.equal(o.regionUuid, r1.uuid);
    assert.equal(o.regionName, r1.name);
    assert.deepEqual(o.tags, ["a", "b"]);
    const selectors = [
      { object: o.uuid },
      { object: o.uuid.toUpperCase() },
      { object: "Host_One", kind: ObjectKind.PROVIDER },
      { object: "host-one", kind: ObjectKind.PROVIDER },
      { object: "host-one", kind: ObjectKind.PROVIDER, project: admin.projectName },
      { object: "host-one", kind: ObjectKind.PROVIDER, project: o.projectUuid },
    ];
    for (const selector of selectors) {
      const got = (await meta().getObject({ selector })).object;
      assert.equal(got?.uuid, o.uuid, JSON.stringify(selector));
      assert.equal(got?.projectName, admin.projectName);
    }
    await expectGrpcError(
      meta().getObject({ selector: { object: "host-one", kind: ObjectKind.NODE } }),
      Code.NotFound,
      "OBJECT_NOT_FOUND",
      "selector.object",
    );

    const renamed = (
      await meta().updateObject({
        selector: { object: o.uuid },
        name: "host-two",
        region: r2.slug,
        updateMask: { paths: ["name", "region"] },
      })
    ).object;
    assert.equal(renamed?.name, "host-two");
    assert.equal(renamed?.slug, "host-two");
    assert.equal(renamed?.regionName, r2.name);
    assert.deepEqual(renamed?.tags, ["a", "b"]);
    await meta().deleteObject({ selector: { object: "host-two", kind: ObjectKind.PROVIDER } });
    await expectGrpcError(
      meta().getObject({ selector: { object: o.uuid } }),
      Code.NotFound,
      "OBJECT_NOT_FOUND",
    );
  });

  test("names and slugs are unique within a kind and project", async () => {
    const r = await region();
    const name = unique("dup");
    const fleet = await object(r.name, { name });
    assert.equal(fleet.projectUuid, "", "a fleet object for a fleet manager without project");
    for (const clash of [name, name.replace("-", "_"), name.toUpperCase()])
      await expectGrpcError(
        object(r.name, { name: clash }),
        Code.AlreadyExists,
        "OBJECT_ALREADY_EXISTS",
        "name",
      );
    // Another kind or another project may use the name.
    await object(r.name, { name, kind: ObjectKind.NODE });
    await object(r.name, { name, project: server().admin.projectName });
    const other = await object(r.name);
    await expectGrpcError(
      meta().updateObject({
        selector: { object: other.uuid },
        name,
        updateMask: { paths: ["name"] },
      }),
      Code.AlreadyExists,
      "OBJECT_ALREADY_EXISTS",
      "name",
    );
  });

  test("regions are changed only through the region RPCs", async () => {
    const r = await region();
    // Thunks, so that no call is in flight (and rejected) before its assertion awaits it.
    for (const call of [
      () =>
        meta().updateObject({
          selector: { object: r.uuid },
          name: "x",
          updateMask: { paths: ["name"] },
        }),
      () => meta().deleteObject({ selector: { object: r.name, kind: ObjectKind.REGION } }),
    ])
      await expectGrpcError(call(), Code.InvalidArgument, "KIND_INVALID", "selector.kind");
    const tagged = await meta().setTags({ selector: { object: r.uuid }, tags: ["site"] });
    assert.equal(tagged.object?.kind, ObjectKind.REGION);
    assert.deepEqual(tagged.object?.tags, ["site"]);
  });

  test("SetTags replaces the tag set, deduplicated and sorted", async () => {
    const o = await object((await region()).name, { tags: ["old"] });
    const res = await meta().setTags({
      selector: { object: o.uuid },
      tags: ["z", "rack:1", "z", "a/b"],
    });
    assert.deepEqual(res.object?.tags, ["a/b", "rack:1", "z"]);
    assert.deepEqual((await meta().getObject({ selector: { object: o.uuid } })).object?.tags, [
      "a/b",
      "rack:1",
      "z",
    ]);
    assert.deepEqual(
      (await meta().setTags({ selector: { object: o.uuid }, tags: [] })).object?.tags,
      [],
    );
    await expectGrpcError(
      meta().setTags({ selector: { object: o.uuid }, tags: ["ok", "not ok"] }),
      Code.InvalidArgument,
      "TAG_INVALID",
      "tags[1]",
    );
    await expectGrpcError(
      meta().setTags({
        selector: { object: o.uuid },
        tags: Array.from({ length: 51 }, (_, i) => `t${i}`),
      }),
      Code.InvalidArgument,
      "TOO_MANY_TAGS",
      "tags",
    );
  });

  test("properties are validated against their kind's definitions", async () => {
    const define = (
      key: string,
      schema: Parameters<ReturnType<typeof meta>["defineProperty"]>[0]["schema"],
    ) => meta().defineProperty({ kind: ObjectKind.NODE, key, schema });
    const rack = await define("rack", { type: PropertyType.STRING, pattern: "r[0-9]+" });
    assert.equal(rack.definition?.schema?.pattern, "r[0-9]+");
    await define("cores", { type: PropertyType.INTEGER, minimum: 1 });
    await define("ssd", { type: PropertyType.BOOLEAN });
    await define("tier", { type: PropertyType.STRING, allowedValues: values("gold", "silver") });
    await define("mgmt", { type: PropertyType.STRING, format: "ipv4" });
    const r = await region();
    const n = await object(r.name, { kind: ObjectKind.NODE, properties: { rack: "r1", cores: 4 } });
    assert.deepEqual(n.properties, { rack: "r1", cores: 4 });
    const sel = { object: n.uuid };
    const set = async (properties: Record<string, unknown>) =>
      (await meta().setProperties({ selector: sel, properties: properties as never })).object
        ?.properties;
    assert.deepEqual(await set({ ssd: true, tier: "gold", mgmt: "10.0.0.9" }), {
      rack: "r1",
      cores: 4,
      ssd: true,
      tier: "gold",
      mgmt: "10.0.0.9",
    });
    assert.deepEqual(await set({ tier: null, mgmt: null }), { rack: "r1", cores: 4, ssd: true });

    const bad: [Record<string, unknown>, string, string][] = [
      [{ unknown: 1 }, "PROPERTY_UNDEFINED", "properties.unknown"],
      [{ cores: 1.5 }, "PROPERTY_INVALID", "properties.cores"],
      [{ cores: 0 }, "PROPERTY_INVALID", "properties.cores"],
      [{ cores: "4" }, "PROPERTY_INVALID", "properties.cores"],
      [{ rack: "x1" }, "PROPERTY_INVALID", "properties.rack"],
      [{ rack: "r1x" }, "PROPERTY_INVALID", "properties.rack"],
      [{ ssd: "yes" }, "PROPERTY_INVALID", "properties.ssd"],
      [{ tier: "bronze" }, "PROPERTY_INVALID", "properties.tier"],
      [{ mgmt: "10.0.0.300" }, "PROPERTY_INVALID", "properties.mgmt"],
    ];
    for (const [properties, reason, field] of bad)
      await expectGrpcError(set(properties), Code.InvalidArgument, reason, field);
    // The definitions are per kind: a provider has no "cores".
    await expectGrpcError(
      object(r.name, { properties: { cores: 2 } }),
      Code.InvalidArgument,
      "PROPERTY_UNDEFINED",
      "properties.cores",
    );

    // A redefinition must keep stored values valid; a compatible one is accepted.
    await expectGrpcError(
      define("cores", { type: PropertyType.INTEGER, minimum: 8 }),
      Code.FailedPrecondition,
      "PROPERTY_IN_USE",
    );
    await expectGrpcError(
      define("rack", { type: PropertyType.INTEGER }),
      Code.FailedPrecondition,
      "PROPERTY_IN_USE",
    );
    const widened = await define("cores", { type: PropertyType.INTEGER, minimum: 1, maximum: 256 });
    assert.equal(widened.definition?.schema?.maximum, 256);
    await expectGrpcError(
      set({ cores: 512 }),
      Code.InvalidArgument,
      "PROPERTY_INVALID",
      "properties.cores",
    );
    // Deleting a definition waits until no object carries the property.
    const del = () => meta().deletePropertyDefinition({ kind: ObjectKind.NODE, key: "cores" });
    await expectGrpcError(del(), Code.FailedPrecondition, "PROPERTY_IN_USE");
    await set({ cores: null });
    await del();
    await expectGrpcError(del(), Code.NotFound, "PROPERTY_DEFINITION_NOT_FOUND", "key");
    await expectGrpcError(
      set({ cores: 2 }),
      Code.InvalidArgument,
      "PROPERTY_UNDEFINED",
      "properties.cores",
    );

    const listed: string[] = [];
    let pageToken = "";
    do {
      const res = await meta().listPropertyDefinitions({
        kind: ObjectKind.NODE,
        pageSize: 2,
        pageToken,
      });
      listed.push(...res.definitions.map((d) => d.key));
      pageToken = res.nextPageToken;
    } while (pageToken);
    assert.deepEqual(listed, ["mgmt", "rack", "ssd", "tier"]);
  });

  test("bad property schemas are refused on the field at fault", async () => {
    const cases: [Parameters<ReturnType<typeof meta>["defineProperty"]>[0]["schema"], string][] = [
      [{ type: PropertyType.STRING, pattern: "a(" }, "schema.pattern"],
      [{ type: PropertyType.INTEGER, format: "uuid" }, "schema.format"],
      [{ type: PropertyType.STRING, format: "email" }, "schema.format"],
      [{ type: PropertyType.NUMBER, minimum: 2, maximum: 1 }, "schema.minimum"],
      [{ type: PropertyType.STRING, minimum: 1 }, "schema.minimum"],
      [{ type: PropertyType.INTEGER, allowedValues: values(1, "two") }, "schema.allowed_values[1]"],
      [{ type: PropertyType.BOOLEAN, pattern: "x" }, "schema.pattern"],
    ];
    for (const [schema, field] of cases)
      await expectGrpcError(
        meta().defineProperty({ kind: ObjectKind.MACHINE, key: "p", schema }),
        Code.InvalidArgument,
        "PROPERTY_SCHEMA_INVALID",
        field,
      );
  });

  test("LookupObjects resolves many refs in one call", async () => {
    const r = await region();
    const twin = unique("twin");
    const a = await object(r.name, { name: unique("Lk_A") });
    const p = await object(r.name, { name: twin });
    const n = await object(r.name, { name: twin, kind: ObjectKind.NODE });
    const missing = newUuid();
    const refs = [a.uuid, a.name, a.slug, twin, "no-such-object", missing, r.name];
    const res = await meta().lookupObjects({ refs });
    assert.deepEqual(
      res.results.map((x) => [x.ref, x.object?.uuid ?? "", x.reason]),
      [
        [a.uuid, a.uuid, ""],
        [a.name, a.uuid, ""],
        [a.slug, a.uuid, ""],
        [twin, "", "AMBIGUOUS"],
        ["no-such-object", "", "NOT_FOUND"],
        [missing, "", "NOT_FOUND"],
        [r.name, r.uuid, ""],
      ],
    );
    const kinded = await meta().lookupObjects({ refs: [twin, a.name], kind: ObjectKind.NODE });
    assert.deepEqual(
      kinded.results.map((x) => [x.object?.uuid ?? "", x.reason]),
      [
        [n.uuid, ""],
        ["", "NOT_FOUND"],
      ],
    );
    assert.notEqual(p.uuid, n.uuid);
    const many = Array.from({ length: 1000 }, (_, i) => (i % 2 ? a.uuid : `absent-${i}`));
    const big = await meta().lookupObjects({ refs: many });
    assert.equal(big.results.length, 1000);
    assert.equal(big.results.filter((x) => x.reason === "").length, 500);
    await expectGrpcError(
      meta().lookupObjects({ refs: [...many, "one-more"] }),
      Code.InvalidArgument,
      "TOO_MANY_REFS",
      "refs",
    );
  });

  test("FindObjects filters by kind, project, region, tags, properties and name prefix, page by page", async () => {
    const r = await region();
    const other = await region();
    const prefix = unique("fnd");
    await meta().defineProperty({
      kind: ObjectKind.MACHINE,
      key: "size",
      schema: { type: PropertyType.STRING },
    });
    const project = server().admin.projectName;
    const made = [];
    for (let i = 0; i < 7; i++)
      made.push(
        await object(i < 6 ? r.name : other.name, {
          kind: ObjectKind.MACHINE,
          name: `${prefix}-${i}`,
          project: i % 2 ? project : "",
          tags: i < 4 ? ["web", i % 2 ? "odd" : "even"] : ["db"],
          properties: { size: i < 3 ? "small" : "large" },
        }),
      );
    const find = async (req: Parameters<ReturnType<typeof meta>["findObjects"]>[0]) => {
      const names: string[] = [];
      let pageToken = "";
      do {
        const res = await meta().findObjects({ pageSize: 2, ...req, pageToken });
        assert.ok(res.objects.length <= 2);
        names.push(...res.objects.map((o) => o.name));
        pageToken = res.nextPageToken;
      } while (pageToken);
      return names;
    };
    const names = (...idx: number[]) => idx.map((i) => `${prefix}-${i}`);
    assert.deepEqual(await find({ namePrefix: prefix }), names(0, 1, 2, 3, 4, 5, 6));
    assert.deepEqual(await find({ namePrefix: prefix, region: r.name }), names(0, 1, 2, 3, 4, 5));
    assert.deepEqual(await find({ namePrefix: prefix, project }), names(1, 3, 5));
    assert.deepEqual(await find({ namePrefix: prefix, tags: ["web", "odd"] }), names(1, 3));
    assert.deepEqual(await find({ namePrefix: prefix, tags: ["web", "db"] }), []);
    assert.deepEqual(
      await find({ namePrefix: prefix, properties: { size: "small" } }),
      names(0, 1, 2),
    );
    assert.deepEqual(
      await find({
        namePrefix: prefix,
        properties: { size: "large" },
        tags: ["db"],
        region: other.slug,
      }),
      names(6),
    );
    assert.deepEqual(await find({ namePrefix: prefix, kind: ObjectKind.NODE }), []);
    assert.deepEqual(
      await find({ namePrefix: prefix.toUpperCase() }),
      [],
      "prefixes are case-sensitive",
    );
    const byKind = await find({ kind: ObjectKind.MACHINE, tags: ["odd"] });
    assert.deepEqual(byKind, names(1, 3));
    const first = (await meta().findObjects({ namePrefix: prefix, project })).objects[0];
    assert.equal(first?.projectName, project);
    assert.equal(first?.regionName, r.name);
    assert.deepEqual(first?.properties, { size: "small" });
    assert.equal(made.length, 7);
  });

  test("a request_id makes mutations idempotent", async () => {
    const r = await region();
    const requestId = unique("req");
    const req = { requestId, kind: ObjectKind.IMAGE, name: unique("img"), region: r.name };
    const first = (await meta().registerObject(req)).object;
    const again = (await meta().registerObject(req)).object;
    assert.equal(again?.uuid, first?.uuid);
    assert.deepEqual(again, first);
    await expectGrpcError(
      meta().registerObject({ ...req, name: unique("img") }),
      Code.InvalidArgument,
      "REQUEST_ID_REUSED",
      "request_id",
    );
    const regionReq = { requestId: unique("req"), name: unique("rg") };
    const made = (await meta().createRegion(regionReq)).region;
    assert.equal((await meta().createRegion(regionReq)).region?.uuid, made?.uuid);
    const del = { requestId: unique("req"), selector: { object: first?.uuid ?? "" } };
    await meta().deleteObject(del);
    await meta().deleteObject(del);
  });

  test("Configure reads and changes the log level", async () => {
    const read = await meta().configure({});
    assert.ok(read.settings?.logLevel);
    const set = await meta().configure({
      settings: { logLevel: "debug" },
      updateMask: { paths: ["log_level"] },
    });
    assert.equal(set.settings?.logLevel, "debug");
    await meta().configure({
      settings: { logLevel: read.settings?.logLevel ?? "silent" },
      updateMask: { paths: ["log_level"] },
    });
    await expectGrpcError(
      meta().configure({ settings: { logLevel: "loud" }, updateMask: { paths: ["log_level"] } }),
      Code.InvalidArgument,
      "LOG_LEVEL_INVALID",
      "settings.log_level",
    );
  });

  test("bad input is refused with its exact code, reason and field", async (t) => {
    const r = await region();
    const o = await object(r.name);
    const long = "x".repeat(64);
    const cases: [string, () => Promise<unknown>, Code, string, string?][] = [
      [
        "region name missing",
        () => meta().createRegion({}),
        Code.InvalidArgument,
        "FIELD_REQUIRED",
        "name",
      ],
      [
        "region name malformed",
        () => meta().createRegion({ name: "-bad" }),
        Code.InvalidArgument,
        "NAME_INVALID",
        "name",
      ],
      [
        "region name with space",
        () => meta().createRegion({ name: "a b" }),
        Code.InvalidArgument,
        "NAME_INVALID",
        "name",
      ],
      [
        "region name too long",
        () => meta().createRegion({ name: long }),
        Code.InvalidArgument,
        "FIELD_TOO_LONG",
        "name",
      ],
      [
        "description too long",
        () => meta().createRegion({ name: "ok", description: "d".repeat(1025) }),
        Code.InvalidArgument,
        "FIELD_TOO_LONG",
        "description",
      ],
      [
        "failure domain too long",
        () => meta().createRegion({ name: "ok", failureDomain: { power: long } }),
        Code.InvalidArgument,
        "FIELD_TOO_LONG",
        "failure_domain.power",
      ],
      [
        "visibility unknown",
        () => meta().createRegion({ name: "ok", visibility: 99 as Visibility }),
        Code.InvalidArgument,
        "ENUM_UNKNOWN",
        "visibility",
      ],
      [
        "parent malformed",
        () => meta().createRegion({ name: "ok", parent: "a b" }),
        Code.InvalidArgument,
        "REF_INVALID",
        "parent",
      ],
      [
        "parent missing",
        () => meta().createRegion({ name: "ok", parent: "no-such-region" }),
        Code.NotFound,
        "REGION_NOT_FOUND",
        "parent",
      ],
      [
        "request_id malformed",
        () => meta().createRegion({ name: "ok", requestId: "bad id!" }),
        Code.InvalidArgument,
        "REQUEST_ID_INVALID",
        "request_id",
      ],
      [
        "get region missing ref",
        () => meta().getRegion({}),
        Code.InvalidArgument,
        "FIELD_REQUIRED",
        "region",
      ],
      [
        "list regions bad token",
        () => meta().listRegions({ pageToken: "garbage!" }),
        Code.InvalidArgument,
        "PAGE_TOKEN_INVALID",
        "page_token",
      ],
      [
        "list regions bad size",
        () => meta().listRegions({ pageSize: 1001 }),
        Code.InvalidArgument,
        "PAGE_SIZE_INVALID",
        "page_size",
      ],
      [
        "update region without mask",
        () => meta().updateRegion({ region: r.name }),
        Code.InvalidArgument,
        "FIELD_REQUIRED",
        "update_mask",
      ],
      [
        "update region bad mask",
        () => meta().updateRegion({ region: r.name, updateMask: { paths: ["name"] } }),
        Code.InvalidArgument,
        "UPDATE_MASK_INVALID",
        "update_mask",
      ],
      [
        "kind missing",
        () => meta().registerObject({ name: "ok", region: r.name }),
        Code.InvalidArgument,
        "FIELD_REQUIRED",
        "kind",
      ],
      [
        "kind unknown",
        () => meta().registerObject({ kind: 99 as ObjectKind, name: "ok", region: r.name }),
        Code.InvalidArgument,
        "ENUM_UNKNOWN",
        "kind",
      ],
      [
        "kind REGION",
        () => meta().registerObject({ kind: ObjectKind.REGION, name: "ok", region: r.name }),
        Code.InvalidArgument,
        "KIND_INVALID",
        "kind",
      ],
      [
        "object name malformed",
        () => meta().registerObject({ kind: ObjectKind.NODE, name: "bad/name", region: r.name }),
        Code.InvalidArgument,
        "NAME_INVALID",
        "name",
      ],
      [
        "object region missing",
        () => meta().registerObject({ kind: ObjectKind.NODE, name: "ok" }),
        Code.InvalidArgument,
        "FIELD_REQUIRED",
        "region",
      ],
      [
        "object region unknown",
        () => meta().registerObject({ kind: ObjectKind.NODE, name: "ok", region: "nowhere" }),
        Code.NotFound,
        "REGION_NOT_FOUND",
        "region",
      ],
      [
        "object project unknown",
        () =>
          meta().registerObject({
            kind: ObjectKind.NODE,
            name: "ok",
            region: r.name,
            project: "no-such-project",
          }),
        Code.NotFound,
        "PROJECT_NOT_FOUND",
        "project",
      ],
      [
        "object tag malformed",
        () =>
          meta().registerObject({
            kind: ObjectKind.NODE,
            name: "ok",
            region: r.name,
            tags: ["a,b"],
          }),
        Code.InvalidArgument,
        "TAG_INVALID",
        "tags[0]",
      ],
      [
        "property key malformed",
        () =>
          meta().registerObject({
            kind: ObjectKind.NODE,
            name: "ok",
            region: r.name,
            properties: { "bad key": 1 },
          }),
        Code.InvalidArgument,
        "NAME_INVALID",
        "properties.bad key",
      ],
      [
        "selector missing",
        () => meta().getObject({}),
        Code.InvalidArgument,
        "FIELD_REQUIRED",
        "selector.object",
      ],
      [
        "selector name without kind",
        () => meta().getObject({ selector: { object: o.name } }),
        Code.InvalidArgument,
        "FIELD_REQUIRED",
        "selector.kind",
      ],
      [
        "selector kind unknown",
        () => meta().getObject({ selector: { object: o.name, kind: 42 as ObjectKind } }),
        Code.InvalidArgument,
        "ENUM_UNKNOWN",
        "selector.kind",
      ],
      [
        "selector malformed",
        () => meta().getObject({ selector: { object: "a b", kind: ObjectKind.NODE } }),
        Code.InvalidArgument,
        "REF_INVALID",
        "selector.object",
      ],
      [
        "selector random UUID",
        () => meta().getObject({ selector: { object: newUuid() } }),
        Code.NotFound,
        "OBJECT_NOT_FOUND",
        "selector.object",
      ],
      [
        "update object without mask",
        () => meta().updateObject({ selector: { object: o.uuid } }),
        Code.InvalidArgument,
        "FIELD_REQUIRED",
        "update_mask",
      ],
      [
        "update object bad mask",
        () =>
          meta().updateObject({ selector: { object: o.uuid }, updateMask: { paths: ["kind"] } }),
        Code.InvalidArgument,
        "UPDATE_MASK_INVALID",
        "update_mask",
      ],
      [
        "update object bad name",
        () =>
          meta().updateObject({
            selector: { object: o.uuid },
            name: "",
            updateMask: { paths: ["name"] },
          }),
        Code.InvalidArgument,
        "FIELD_REQUIRED",
        "name",
      ],
      [
        "lookup ref malformed",
        () => meta().lookupObjects({ refs: ["ok", "not ok"] }),
        Code.InvalidArgument,
        "REF_INVALID",
        "refs[1]",
      ],
      [
        "lookup kind unknown",
        () => meta().lookupObjects({ refs: ["ok"], kind: 7 as ObjectKind }),
        Code.InvalidArgument,
        "ENUM_UNKNOWN",
        "kind",
      ],
      [
        "find bad token",
        () => meta().findObjects({ pageToken: "eyJ4Ijox" }),
        Code.InvalidArgument,
        "PAGE_TOKEN_INVALID",
        "page_token",
      ],
      [
        "find negative size",
        () => meta().findObjects({ pageSize: -1 }),
        Code.InvalidArgument,
        "PAGE_SIZE_INVALID",
        "page_size",
      ],
      [
        "find unknown region",
        () => meta().findObjects({ region: "nowhere" }),
        Code.NotFound,
        "REGION_NOT_FOUND",
        "region",
      ],
      [
        "find prefix too long",
        () => meta().findObjects({ namePrefix: long }),
        Code.InvalidArgument,
        "FIELD_TOO_LONG",
        "name_prefix",
      ],
      [
        "define without schema",
        () => meta().defineProperty({ kind: ObjectKind.NODE, key: "k" }),
        Code.InvalidArgument,
        "FIELD_REQUIRED",
        "schema",
      ],
      [
        "define without type",
        () => meta().defineProperty({ kind: ObjectKind.NODE, key: "k", schema: {} }),
        Code.InvalidArgument,
        "FIELD_REQUIRED",
        "schema.type",
      ],
      [
        "define unknown type",
        () =>
          meta().defineProperty({
            kind: ObjectKind.NODE,
            key: "k",
            schema: { type: 9 as PropertyType },
          }),
        Code.InvalidArgument,
        "ENUM_UNKNOWN",
        "schema.type",
      ],
      [
        "define without kind",
        () => meta().defineProperty({ key: "k", schema: { type: PropertyType.STRING } }),
        Code.InvalidArgument,
        "FIELD_REQUIRED",
        "kind",
      ],
      [
        "define bad key",
        () =>
          meta().defineProperty({
            kind: ObjectKind.NODE,
            key: "bad key",
            schema: { type: PropertyType.STRING },
          }),
        Code.InvalidArgument,
        "NAME_INVALID",
        "key",
      ],
      [
        "list definitions bad kind",
        () => meta().listPropertyDefinitions({ kind: 99 as ObjectKind }),
        Code.InvalidArgument,
        "ENUM_UNKNOWN",
        "kind",
      ],
      [
        "delete undefined property",
        () => meta().deletePropertyDefinition({ kind: ObjectKind.IMAGE, key: "nothing" }),
        Code.NotFound,
        "PROPERTY_DEFINITION_NOT_FOUND",
        "key",
      ],
      [
        "configure bad mask",
        () => meta().configure({ updateMask: { paths: ["color"] } }),
        Code.InvalidArgument,
        "UPDATE_MASK_INVALID",
        "update_mask",
      ],
    ];
    for (const [title, call, code, reason, field] of cases) {
      await t.test(title, async () => {
        await expectGrpcError(call(), code, reason, field);
      });
    }
  });
});

/** `mulligan object …`: the object registry (MetadataService). */
import { Command } from "commander";
import {
  type LookupResult,
  LookupResultSchema,
  ObjectKind,
  type ObjectSelector,
  type RegisteredObject,
  RegisteredObjectSchema,
} from "../../gen/mulligan/meta/v1/meta_pb.js";
import { requestId, withClient } from "../context.js";
import { collectPages, limitOf, withLimit, withRequestId } from "../options.js";
import { type Column, label, printDeleted, printList, printOne, time } from "../output.js";
import { collect, enumChoices, enumValue, properties } from "../parse.js";

/** Columns of object lists (also used by `tag` and `property set`). */
export const OBJECT_COLUMNS: Column<RegisteredObject>[] = [
  { header: "KIND", value: (o) => label(ObjectKind, o.kind) },
  { header: "NAME", value: (o) => o.name },
  { header: "PROJECT", value: (o) => o.projectName },
  { header: "REGION", value: (o) => o.regionName },
  { header: "TAGS", value: (o) => o.tags.join(", ") },
  { header: "UUID", value: (o) => o.uuid },
];

/** Rows of the key/value view of one object. */
export const OBJECT_DETAIL: Column<RegisteredObject>[] = [
  { header: "kind", value: (o) => label(ObjectKind, o.kind) },
  { header: "name", value: (o) => o.name },
  { header: "uuid", value: (o) => o.uuid },
  { header: "slug", value: (o) => o.slug },
  { header: "project", value: (o) => o.projectName },
  { header: "region", value: (o) => o.regionName },
  { header: "tags", value: (o) => o.tags.join(", ") },
  {
    header: "properties",
    value: (o) =>
      Object.entries(o.properties ?? {})
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join("\n"),
  },
  { header: "created", value: (o) => time(o.createTime) },
  { header: "updated", value: (o) => time(o.updateTime) },
];

const LOOKUP_COLUMNS: Column<LookupResult>[] = [
  { header: "REF", value: (r) => r.ref },
  { header: "KIND", value: (r) => (r.object ? label(ObjectKind, r.object.kind) : "") },
  { header: "NAME", value: (r) => r.object?.name ?? "" },
  { header: "PROJECT", value: (r) => r.object?.projectName ?? "" },
  { header: "UUID", value: (r) => r.object?.uuid ?? "" },
  { header: "RESULT", value: (r) => r.reason || "FOUND" },
];

/** Help text listing the object kinds. */
export const KIND_HELP = `object kind: ${enumChoices(ObjectKind)}`;

interface SelectorOptions {
  kind?: string;
  project?: string;
}

/** Adds the options that, with the OBJECT argument, select one object. */
export function withSelector(cmd: Command): Command {
  return cmd
    .option("--kind <kind>", `${KIND_HELP} (needed with a name or slug)`)
    .option("--project <project>", "project of a name or slug, when not the token's project");
}

/** The selector of OBJECT (a UUID, or a name or slug with --kind). */
export function selectorOf(ref: string, o: SelectorOptions): ObjectSelector {
  return {
    $typeName: "mulligan.meta.v1.ObjectSelector",
    object: ref,
    kind: kindOf(o.kind),
    project: o.project ?? "",
  };
}

/** The --kind value, or UNSPECIFIED when not given. */
export function kindOf(text: string | undefined): ObjectKind {
  return text ? enumValue(ObjectKind, text, "--kind") : ObjectKind.UNSPECIFIED;
}

/** The `object` command group. */
export function objectCommand(): Command {
  const object = new Command("object").description("register and find objects in the registry");

  withRequestId(
    object
      .command("register <kind> <name>")
      .description(`register an object (${KIND_HELP}; regions are created with \`region create\`)`)
      .requiredOption("--region <region>", "region (name, slug or UUID)")
      .option("--project <project>", "owning project (default: none, a fleet object)")
      .option("--tag <tag>", "a tag (repeatable)", collect)
      .option(
        "--property <key=value>",
        "a property; VALUE is JSON or a string (repeatable)",
        collect,
      ),
  ).action(
    async (
      kind: string,
      name: string,
      o: {
        region: string;
        project?: string;
        tag?: string[];
        property?: string[];
        requestId?: string;
      },
      cmd: Command,
    ) => {
      const request = {
        requestId: requestId(o),
        kind: enumValue(ObjectKind, kind, "kind"),
        name,
        project: o.project ?? "",
        region: o.region,
        tags: o.tag ?? [],
        properties: properties(o.property ?? []),
      };
      await withClient(cmd, async (client, g) => {
        const res = await client.meta.registerObject(request);
        if (res.object) printOne(g.output, RegisteredObjectSchema, res.object, OBJECT_DETAIL);
      });
    },
  );

  withSelector(object.command("show <object>").description("show an object")).action(
    async (ref: string, o: SelectorOptions, cmd: Command) => {
      const selector = selectorOf(ref, o);
      await withClient(cmd, async (client, g) => {
        const res = await client.meta.getObject({ selector });
        if (res.object) printOne(g.output, RegisteredObjectSchema, res.object, OBJECT_DETAIL);
      });
    },
  );

  withLimit(
    object
      .command("list")
      .description("find objects by kind, project, region, tags, properties and name prefix")
      .option("--kind <kind>", KIND_HELP)
      .option(
        "--project <project>",
        "only this project's objects (default: every project you may see)",
      )
      .option("--region <region>", "only objects in this region")
      .option("--tag <tag>", "only objects carrying this tag (repeatable: all of them)", collect)
      .option(
        "--property <key=value>",
        "only objects with this property value (repeatable)",
        collect,
      )
      .option("--name-prefix <prefix>", "only objects whose name starts with this"),
  ).action(
    async (
      o: SelectorOptions & {
        region?: string;
        tag?: string[];
        property?: string[];
        namePrefix?: string;
        limit?: number;
      },
      cmd: Command,
    ) => {
      const filter = {
        kind: kindOf(o.kind),
        project: o.project ?? "",
        region: o.region ?? "",
        tags: o.tag ?? [],
        properties: properties(o.property ?? []),
        namePrefix: o.namePrefix ?? "",
      };
      await withClient(cmd, async (client, g) => {
        const rows = await collectPages(limitOf(o), async (pageSize, pageToken) => {
          const res = await client.meta.findObjects({ ...filter, pageSize, pageToken });
          return { items: res.objects, nextPageToken: res.nextPageToken };
        });
        printList(g.output, RegisteredObjectSchema, rows, OBJECT_COLUMNS);
      });
    },
  );

  object
    .command("lookup <refs...>")
    .description("resolve names, slugs or UUIDs in one call")
    .option("--kind <kind>", `match names and slugs of this ${KIND_HELP} only`)
    .option("--project <project>", "project to resolve names in (default: the token's)")
    .action(async (refs: string[], o: SelectorOptions, cmd: Command) => {
      const kind = kindOf(o.kind);
      await withClient(cmd, async (client, g) => {
        const res = await client.meta.lookupObjects({ refs, kind, project: o.project ?? "" });
        printList(g.output, LookupResultSchema, res.results, LOOKUP_COLUMNS);
      });
    });

  withRequestId(
    withSelector(
      object
        .command("update <object>")
        .description("rename an object or move it to another region")
        .option("--name <name>", "new name")
        .option("--region <region>", "new region"),
    ),
  ).action(
    async (
      ref: string,
      o: SelectorOptions & { name?: string; region?: string; requestId?: string },
      cmd: Command,
    ) => {
      const paths: string[] = [];
      if (o.name !== undefined) paths.push("name");
      if (o.region !== undefined) paths.push("region");
      const request = {
        requestId: requestId(o),
        selector: selectorOf(ref, o),
        name: o.name ?? "",
        region: o.region ?? "",
        updateMask: { paths },
      };
      await withClient(cmd, async (client, g) => {
        const res = await client.meta.updateObject(request);
        if (res.object) printOne(g.output, RegisteredObjectSchema, res.object, OBJECT_DETAIL);
      });
    },
  );

  withRequestId(
    withSelector(object.command("delete <object>").description("delete an object")),
  ).action(async (ref: string, o: SelectorOptions & { requestId?: string }, cmd: Command) => {
    const selector = selectorOf(ref, o);
    await withClient(cmd, async (client, g) => {
      await client.meta.deleteObject({ requestId: requestId(o), selector });
      printDeleted(g.output, "object", ref);
    });
  });

  return object;
}

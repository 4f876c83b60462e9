/** `mulligan property …`: property definitions per kind, and an object's properties. */
import { fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Command } from "commander";
import {
  ObjectKind,
  type PropertyDefinition,
  PropertyDefinitionSchema,
  PropertyType,
  RegisteredObjectSchema,
} from "../../gen/mulligan/meta/v1/meta_pb.js";
import { requestId, withClient } from "../context.js";
import { collectPages, limitOf, withLimit, withRequestId } from "../options.js";
import { type Column, label, printDocument, printList, printOne, time, write } from "../output.js";
import { collect, enumChoices, enumValue, jsonOrString, number, properties } from "../parse.js";
import { KIND_HELP, kindOf, OBJECT_DETAIL, selectorOf, withSelector } from "./object.js";

const schemaText = (d: PropertyDefinition): string => {
  const s = d.schema;
  if (!s) return "";
  const parts = [label(PropertyType, s.type)];
  if (s.allowedValues.length > 0)
    parts.push(
      `enum ${s.allowedValues.map((v) => JSON.stringify(toJson(ValueSchema, v))).join("|")}`,
    );
  if (s.minimum !== undefined) parts.push(`min ${s.minimum}`);
  if (s.maximum !== undefined) parts.push(`max ${s.maximum}`);
  if (s.pattern) parts.push(`pattern ${s.pattern}`);
  if (s.format) parts.push(`format ${s.format}`);
  return parts.join(", ");
};

const COLUMNS: Column<PropertyDefinition>[] = [
  { header: "KIND", value: (d) => label(ObjectKind, d.kind) },
  { header: "KEY", value: (d) => d.key },
  { header: "SCHEMA", value: schemaText },
  { header: "DESCRIPTION", value: (d) => d.description },
  { header: "UPDATED", value: (d) => time(d.updateTime) },
];

const DETAIL: Column<PropertyDefinition>[] = COLUMNS.map((c) => ({
  ...c,
  header: c.header.toLowerCase(),
}));

interface DefineOptions {
  type: string;
  enum?: string[];
  minimum?: string;
  maximum?: string;
  pattern?: string;
  format?: string;
  description?: string;
  requestId?: string;
}

/** The `property` command group. */
export function propertyCommand(): Command {
  const property = new Command("property").description(
    "define properties per object kind and set them on objects",
  );

  withRequestId(
    property
      .command("define <kind> <key>")
      .description(`define (or redefine) a property objects of one kind may carry (${KIND_HELP})`)
      .requiredOption("--type <type>", `value type: ${enumChoices(PropertyType)}`)
      .option("--enum <value>", "an allowed value (repeatable); JSON or a string", collect)
      .option("--minimum <n>", "lower bound (integer and number)")
      .option("--maximum <n>", "upper bound (integer and number)")
      .option("--pattern <regex>", "a regular expression the whole string must match")
      .option(
        "--format <format>",
        "a string format: uuid, ipv4, ipv6, mac, hostname, date-time, uri",
      )
      .option("--description <text>", "free text"),
  ).action(async (kind: string, key: string, o: DefineOptions, cmd: Command) => {
    const type = enumValue(PropertyType, o.type, "--type");
    const allowed = (o.enum ?? []).map(
      (v): JsonValue => (type === PropertyType.STRING ? v : jsonOrString(v)),
    );
    const request = {
      requestId: requestId(o),
      kind: enumValue(ObjectKind, kind, "kind"),
      key,
      description: o.description ?? "",
      schema: {
        type,
        allowedValues: allowed.map((v) => fromJson(ValueSchema, v)),
        minimum: o.minimum === undefined ? undefined : number(o.minimum, "--minimum"),
        maximum: o.maximum === undefined ? undefined : number(o.maximum, "--maximum"),
        pattern: o.pattern ?? "",
        format: o.format ?? "",
      },
    };
    await withClient(cmd, async (client, g) => {
      const res = await client.meta.defineProperty(request);
      if (res.definition) printOne(g.output, PropertyDefinitionSchema, res.definition, DETAIL);
    });
  });

  withLimit(
    property
      .command("list")
      .description("list property definitions")
      .option("--kind <kind>", `only this ${KIND_HELP}`),
  ).action(async (o: { kind?: string; limit?: number }, cmd: Command) => {
    const kind = kindOf(o.kind);
    await withClient(cmd, async (client, g) => {
      const rows = await collectPages(limitOf(o), async (pageSize, pageToken) => {
        const res = await client.meta.listPropertyDefinitions({ pageSize, pageToken, kind });
        return { items: res.definitions, nextPageToken: res.nextPageToken };
      });
      printList(g.output, PropertyDefinitionSchema, rows, COLUMNS);
    });
  });

  withRequestId(
    property
      .command("delete <kind> <key>")
      .description("delete a definition (refused while an object carries the property)"),
  ).action(async (kind: string, key: string, o: { requestId?: string }, cmd: Command) => {
    const request = { requestId: requestId(o), kind: enumValue(ObjectKind, kind, "kind"), key };
    await withClient(cmd, async (client, g) => {
      await client.meta.deletePropertyDefinition(request);
      if (g.output === "table") write(`deleted property ${kind}/${key}`);
      else printDocument(g.output, { deleted: `${kind}/${key}` });
    });
  });

  withRequestId(
    withSelector(
      property
        .command("set <object> <pairs...>")
        .description(
          "set properties of an object: KEY=VALUE (VALUE is JSON or a string; KEY=null removes)",
        ),
    ),
  ).action(
    async (
      ref: string,
      pairs: string[],
      o: { kind?: string; project?: string; requestId?: string },
      cmd: Command,
    ) => {
      const request = {
        requestId: requestId(o),
        selector: selectorOf(ref, o),
        properties: properties(pairs),
      };
      await withClient(cmd, async (client, g) => {
        const res = await client.meta.setProperties(request);
        if (res.object) printOne(g.output, RegisteredObjectSchema, res.object, OBJECT_DETAIL);
      });
    },
  );

  return property;
}

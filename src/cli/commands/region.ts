/** `mulligan region …`: the region hierarchy (MetadataService). */
import { Command } from "commander";
import { type Region, RegionSchema, Visibility } from "../../gen/mulligan/meta/v1/meta_pb.js";
import { requestId, withClient } from "../context.js";
import { collectPages, limitOf, withLimit, withRequestId } from "../options.js";
import { type Column, label, printDeleted, printList, printOne, time } from "../output.js";
import { enumChoices, enumValue } from "../parse.js";

const COLUMNS: Column<Region>[] = [
  { header: "NAME", value: (r) => r.name },
  { header: "PARENT", value: (r) => r.parentName },
  { header: "VISIBILITY", value: (r) => label(Visibility, r.visibility) },
  { header: "POWER", value: (r) => r.failureDomain?.power ?? "" },
  { header: "NETWORK", value: (r) => r.failureDomain?.network ?? "" },
  { header: "UUID", value: (r) => r.uuid },
];

const DETAIL: Column<Region>[] = [
  { header: "name", value: (r) => r.name },
  { header: "uuid", value: (r) => r.uuid },
  { header: "slug", value: (r) => r.slug },
  { header: "parent", value: (r) => r.parentName },
  { header: "description", value: (r) => r.description },
  { header: "visibility", value: (r) => label(Visibility, r.visibility) },
  { header: "power", value: (r) => r.failureDomain?.power ?? "" },
  { header: "network", value: (r) => r.failureDomain?.network ?? "" },
  { header: "created", value: (r) => time(r.createTime) },
  { header: "updated", value: (r) => time(r.updateTime) },
];

interface RegionFields {
  description?: string;
  visibility?: string;
  power?: string;
  network?: string;
  requestId?: string;
}

const visibilityHelp = `who may see it: ${enumChoices(Visibility)}`;

/** The `region` command group. */
export function regionCommand(): Command {
  const region = new Command("region").description(
    "manage regions (a hierarchy of failure domains)",
  );

  withRequestId(
    region
      .command("create <name>")
      .description("create a region")
      .option("--parent <region>", "parent region (name, slug or UUID)")
      .option("--description <text>", "free text")
      .option("--visibility <v>", `${visibilityHelp} (default internal)`)
      .option("--power <domain>", "power failure domain")
      .option("--network <domain>", "network failure domain"),
  ).action(async (name: string, o: RegionFields & { parent?: string }, cmd: Command) => {
    const request = {
      requestId: requestId(o),
      name,
      parent: o.parent ?? "",
      description: o.description ?? "",
      visibility: visibilityOf(o),
      failureDomain: { power: o.power ?? "", network: o.network ?? "" },
    };
    await withClient(cmd, async (client, g) => {
      const res = await client.meta.createRegion(request);
      if (res.region) printOne(g.output, RegionSchema, res.region, DETAIL);
    });
  });

  withLimit(
    region
      .command("list")
      .description("list regions")
      .option("--parent <region>", "only direct children of this region"),
  ).action(async (o: { parent?: string; limit?: number }, cmd: Command) =>
    withClient(cmd, async (client, g) => {
      const rows = await collectPages(limitOf(o), async (pageSize, pageToken) => {
        const res = await client.meta.listRegions({ pageSize, pageToken, parent: o.parent ?? "" });
        return { items: res.regions, nextPageToken: res.nextPageToken };
      });
      printList(g.output, RegionSchema, rows, COLUMNS);
    }),
  );

  region
    .command("show <region>")
    .description("show a region (name, slug or UUID)")
    .action(async (ref: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const res = await client.meta.getRegion({ region: ref });
        if (res.region) printOne(g.output, RegionSchema, res.region, DETAIL);
      }),
    );

  withRequestId(
    region
      .command("update <region>")
      .description("change a region's description, visibility or failure domains")
      .option("--description <text>", "free text")
      .option("--visibility <v>", visibilityHelp)
      .option("--power <domain>", "power failure domain")
      .option("--network <domain>", "network failure domain"),
  ).action(async (ref: string, o: RegionFields, cmd: Command) => {
    const paths: string[] = [];
    if (o.description !== undefined) paths.push("description");
    if (o.visibility !== undefined) paths.push("visibility");
    if (o.power !== undefined) paths.push("failure_domain.power");
    if (o.network !== undefined) paths.push("failure_domain.network");
    const request = {
      requestId: requestId(o),
      region: ref,
      description: o.description ?? "",
      visibility: visibilityOf(o),
      failureDomain: { power: o.power ?? "", network: o.network ?? "" },
      updateMask: { paths },
    };
    await withClient(cmd, async (client, g) => {
      const res = await client.meta.updateRegion(request);
      if (res.region) printOne(g.output, RegionSchema, res.region, DETAIL);
    });
  });

  withRequestId(region.command("delete <region>").description("delete a region")).action(
    async (ref: string, o: { requestId?: string }, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        await client.meta.deleteRegion({ requestId: requestId(o), region: ref });
        printDeleted(g.output, "region", ref);
      }),
  );

  return region;
}

function visibilityOf(o: RegionFields): Visibility {
  return o.visibility
    ? enumValue(Visibility, o.visibility, "--visibility")
    : Visibility.UNSPECIFIED;
}

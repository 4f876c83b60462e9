/** `mulligan group …`: provider groups (Placement's aggregates) and failure domains. */
import { Command } from "commander";
import {
  GroupLevel,
  type ProviderGroup,
  ProviderGroupSchema,
  ProviderSchema,
} from "../../gen/mulligan/resource/v1/resource_pb.js";
import { requestId, withClient } from "../context.js";
import { collectPages, limitOf, withLimit, withRequestId } from "../options.js";
import { type Column, label, printList, printOne, time } from "../output.js";
import { enumChoices, enumValue } from "../parse.js";
import { generationOf, PROVIDER_DETAIL, withGeneration } from "./provider.js";

const levelText = (g: ProviderGroup) =>
  g.level === GroupLevel.UNSPECIFIED ? "" : label(GroupLevel, g.level);

const COLUMNS: Column<ProviderGroup>[] = [
  { header: "NAME", value: (g) => g.name },
  { header: "LEVEL", value: levelText },
  { header: "CREATED", value: (g) => time(g.createTime) },
  { header: "UUID", value: (g) => g.uuid },
];

const DETAIL: Column<ProviderGroup>[] = COLUMNS.map((c) => ({
  ...c,
  header: c.header.toLowerCase(),
}));

/** The `group` command group. */
export function groupCommand(): Command {
  const group = new Command("group").description(
    "manage provider groups (aggregates; racks, rows and sites for distance constraints)",
  );

  withRequestId(
    group
      .command("create <name>")
      .description("create a provider group")
      .option(
        "--level <level>",
        `failure-domain level: ${enumChoices(GroupLevel)} (default: a plain group)`,
      ),
  ).action(async (name: string, o: { level?: string; requestId?: string }, cmd: Command) => {
    const level = o.level ? enumValue(GroupLevel, o.level, "--level") : GroupLevel.UNSPECIFIED;
    await withClient(cmd, async (client, g) => {
      const res = await client.resource.createProviderGroup({
        requestId: requestId(o),
        name,
        level,
      });
      if (res.group) printOne(g.output, ProviderGroupSchema, res.group, DETAIL);
    });
  });

  withLimit(group.command("list").description("list provider groups")).action(
    async (o: { limit?: number }, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const rows = await collectPages(limitOf(o), async (pageSize, pageToken) => {
          const res = await client.resource.listProviderGroups({ pageSize, pageToken });
          return { items: res.groups, nextPageToken: res.nextPageToken };
        });
        printList(g.output, ProviderGroupSchema, rows, COLUMNS);
      }),
  );

  withRequestId(
    withGeneration(
      group
        .command("set <provider> [groups...]")
        .description(
          "replace the groups the provider belongs to (names or UUIDs; none: leave every group)",
        ),
    ),
  ).action(
    async (
      ref: string,
      groups: string[],
      o: { generation?: string; requestId?: string },
      cmd: Command,
    ) =>
      withClient(cmd, async (client, g) => {
        const res = await client.resource.setProviderGroups({
          requestId: requestId(o),
          provider: ref,
          generation: await generationOf(client, ref, o),
          groups,
        });
        if (res.provider) printOne(g.output, ProviderSchema, res.provider, PROVIDER_DETAIL);
      }),
  );

  return group;
}

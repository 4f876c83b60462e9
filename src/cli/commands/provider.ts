/** `mulligan provider …`: resource providers and their trees (ResourceService). */
import { Command } from "commander";
import type { MulliganClient } from "../../client/client.js";
import { type Provider, ProviderSchema } from "../../gen/mulligan/resource/v1/resource_pb.js";
import { requestId, withClient } from "../context.js";
import { UsageError } from "../exit-codes.js";
import { collectPages, limitOf, withLimit, withRequestId } from "../options.js";
import { type Column, printDeleted, printList, printOne, time } from "../output.js";
import { collect, count } from "../parse.js";
import { capabilitiesOf } from "../resource-values.js";
import { inventoriesOf, printTree } from "./provider-tree.js";

/** Columns of provider lists. */
export const PROVIDER_COLUMNS: Column<Provider>[] = [
  { header: "NAME", value: (p) => p.name },
  { header: "PARENT", value: (p) => p.parentName },
  { header: "ROOT", value: (p) => p.rootName },
  { header: "REGION", value: (p) => p.regionName },
  { header: "GEN", value: (p) => String(p.generation) },
  { header: "CAPABILITIES", value: (p) => p.capabilities.join("\n") },
  { header: "GROUPS", value: (p) => p.groups.join(", ") },
  { header: "UUID", value: (p) => p.uuid },
];

/** Rows of the key/value view of one provider (also used by `capability set`, `group set`). */
export const PROVIDER_DETAIL: Column<Provider>[] = [
  { header: "name", value: (p) => p.name },
  { header: "uuid", value: (p) => p.uuid },
  { header: "region", value: (p) => p.regionName },
  { header: "parent", value: (p) => p.parentName },
  { header: "root", value: (p) => p.rootName },
  { header: "generation", value: (p) => String(p.generation) },
  { header: "capabilities", value: (p) => p.capabilities.join("\n") },
  { header: "groups", value: (p) => p.groups.join("\n") },
  { header: "created", value: (p) => time(p.createTime) },
  { header: "updated", value: (p) => time(p.updateTime) },
];

/** Adds `--generation` to a generation-checked provider change. */
export function withGeneration(cmd: Command): Command {
  return cmd.option(
    "--generation <n>",
    "the provider generation last seen; a stale one is refused (default: the current one)",
  );
}

/**
 * The generation to send: --generation, else the provider's current one (read first), which
 * makes the change unconditional for a person at a terminal.
 */
export async function generationOf(
  client: MulliganClient,
  provider: string,
  o: { generation?: string },
): Promise<bigint> {
  if (o.generation !== undefined) return BigInt(count(o.generation, "--generation"));
  const res = await client.resource.getProvider({ provider });
  return res.provider?.generation ?? 0n;
}

interface UpdateOptions {
  name?: string;
  parent?: string;
  root?: boolean;
  region?: string;
  generation?: string;
  requestId?: string;
}

/** The `provider` command group. */
export function providerCommand(): Command {
  const provider = new Command("provider").description(
    "manage resource providers (hosts, NUMA nodes, devices, shared pools)",
  );

  withRequestId(
    provider
      .command("create <name>")
      .description("create a provider: a root (with --region) or a child (with --parent)")
      .option("--region <region>", "region (name, slug or UUID; a child defaults to its parent's)")
      .option("--parent <provider>", "parent provider (name or UUID)")
      .option("--uuid <uuid>", "the provider's UUID (default: a new one)"),
  ).action(
    async (
      name: string,
      o: { region?: string; parent?: string; uuid?: string; requestId?: string },
      cmd: Command,
    ) => {
      const request = {
        requestId: requestId(o),
        name,
        region: o.region ?? "",
        parent: o.parent ?? "",
        uuid: o.uuid ?? "",
      };
      await withClient(cmd, async (client, g) => {
        const res = await client.resource.createProvider(request);
        if (res.provider) printOne(g.output, ProviderSchema, res.provider, PROVIDER_DETAIL);
      });
    },
  );

  withLimit(
    provider
      .command("list")
      .description("list providers")
      .option("--region <region>", "only providers in this region or below")
      .option("--in-tree <provider>", "only the tree of this provider")
      .option("--required <caps>", "only providers with every one of A,B (repeatable)", collect)
      .option("--member-of <group>", "only providers in this group")
      .option("--name-prefix <prefix>", "only providers whose name starts with this"),
  ).action(
    async (
      o: {
        region?: string;
        inTree?: string;
        required?: string[];
        memberOf?: string;
        namePrefix?: string;
        limit?: number;
      },
      cmd: Command,
    ) => {
      const filter = {
        region: o.region ?? "",
        inTree: o.inTree ?? "",
        required: (o.required ?? []).flatMap((t) => capabilitiesOf(t, "--required")),
        memberOf: o.memberOf ?? "",
        namePrefix: o.namePrefix ?? "",
      };
      await withClient(cmd, async (client, g) => {
        const rows = await collectPages(limitOf(o), async (pageSize, pageToken) => {
          const res = await client.resource.listProviders({ ...filter, pageSize, pageToken });
          return { items: res.providers, nextPageToken: res.nextPageToken };
        });
        printList(g.output, ProviderSchema, rows, PROVIDER_COLUMNS);
      });
    },
  );

  provider
    .command("show <provider>")
    .description("show a provider (name or UUID)")
    .action(async (ref: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const res = await client.resource.getProvider({ provider: ref });
        if (res.provider) printOne(g.output, ProviderSchema, res.provider, PROVIDER_DETAIL);
      }),
    );

  withLimit(
    provider
      .command("tree <provider>")
      .description("show the tree of a provider, indented, with each provider's inventories"),
  ).action(async (ref: string, o: { limit?: number }, cmd: Command) =>
    withClient(cmd, async (client, g) => {
      const rows = await collectPages(limitOf(o), async (pageSize, pageToken) => {
        const res = await client.resource.listProviders({ inTree: ref, pageSize, pageToken });
        return { items: res.providers, nextPageToken: res.nextPageToken };
      });
      const inventories = await inventoriesOf(client, rows);
      printTree(g.output, rows, inventories);
    }),
  );

  withRequestId(
    withGeneration(
      provider
        .command("update <provider>")
        .description("rename a provider, re-parent it or move it to another region")
        .option("--name <name>", "new name")
        .option("--parent <provider>", "new parent (name or UUID)")
        .option("--root", "make it a root provider (no parent)")
        .option("--region <region>", "new region"),
    ),
  ).action(async (ref: string, o: UpdateOptions, cmd: Command) => {
    if (o.parent !== undefined && o.root) throw new UsageError("give --parent or --root, not both");
    const paths: string[] = [];
    if (o.name !== undefined) paths.push("name");
    if (o.parent !== undefined || o.root) paths.push("parent");
    if (o.region !== undefined) paths.push("region");
    await withClient(cmd, async (client, g) => {
      const res = await client.resource.updateProvider({
        requestId: requestId(o),
        provider: ref,
        generation: await generationOf(client, ref, o),
        name: o.name ?? "",
        parent: o.parent ?? "",
        region: o.region ?? "",
        updateMask: { paths },
      });
      if (res.provider) printOne(g.output, ProviderSchema, res.provider, PROVIDER_DETAIL);
    });
  });

  withRequestId(
    provider
      .command("delete <provider>")
      .description("delete a provider (refused while it has children or allocations)"),
  ).action(async (ref: string, o: { requestId?: string }, cmd: Command) =>
    withClient(cmd, async (client, g) => {
      await client.resource.deleteProvider({ requestId: requestId(o), provider: ref });
      printDeleted(g.output, "provider", ref);
    }),
  );

  return provider;
}

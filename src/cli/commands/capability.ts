/**
 * `mulligan capability …` and `mulligan resource-class …`: the vocabulary of the resource
 * engine (standard names plus CUSTOM_* ones), and a provider's capabilities (ResourceService).
 */
import { Command } from "commander";
import {
  type Capability,
  CapabilitySchema,
  ProviderSchema,
  type ResourceClass,
  ResourceClassSchema,
} from "../../gen/mulligan/resource/v1/resource_pb.js";
import { requestId, withClient } from "../context.js";
import { collectPages, limitOf, withLimit, withRequestId } from "../options.js";
import { type Column, printDeleted, printList, printOne } from "../output.js";
import { generationOf, PROVIDER_DETAIL, withGeneration } from "./provider.js";

const NAME_COLUMNS: Column<Capability | ResourceClass>[] = [
  { header: "NAME", value: (c) => c.name },
  { header: "STANDARD", value: (c) => (c.standard ? "yes" : "no") },
];

/** The key/value view of one capability or class (keys in lower case, like every detail view). */
const NAME_DETAIL = NAME_COLUMNS.map((c) => ({ ...c, header: c.header.toLowerCase() }));

/** The `capability` command group. */
export function capabilityCommand(): Command {
  const capability = new Command("capability").description(
    "list and define capabilities (Placement's traits), and set a provider's",
  );

  withLimit(
    capability
      .command("list")
      .description("list capabilities, standard and CUSTOM_*")
      .option("--prefix <prefix>", "only names starting with this"),
  ).action(async (o: { prefix?: string; limit?: number }, cmd: Command) =>
    withClient(cmd, async (client, g) => {
      const rows = await collectPages(limitOf(o), async (pageSize, pageToken) => {
        const res = await client.resource.listCapabilities({
          pageSize,
          pageToken,
          prefix: o.prefix ?? "",
        });
        return { items: res.capabilities, nextPageToken: res.nextPageToken };
      });
      printList(g.output, CapabilitySchema, rows, NAME_COLUMNS);
    }),
  );

  withRequestId(
    capability.command("create <name>").description("create a CUSTOM_* capability"),
  ).action(async (name: string, o: { requestId?: string }, cmd: Command) =>
    withClient(cmd, async (client, g) => {
      const res = await client.resource.createCapability({ requestId: requestId(o), name });
      if (res.capability) printOne(g.output, CapabilitySchema, res.capability, NAME_DETAIL);
    }),
  );

  withRequestId(
    capability.command("delete <name>").description("delete a CUSTOM_* capability no provider has"),
  ).action(async (name: string, o: { requestId?: string }, cmd: Command) =>
    withClient(cmd, async (client, g) => {
      await client.resource.deleteCapability({ requestId: requestId(o), name });
      printDeleted(g.output, "capability", name);
    }),
  );

  withRequestId(
    withGeneration(
      capability
        .command("set <provider> [capabilities...]")
        .description("replace the provider's capabilities (none: remove every one)"),
    ),
  ).action(
    async (
      ref: string,
      capabilities: string[],
      o: { generation?: string; requestId?: string },
      cmd: Command,
    ) =>
      withClient(cmd, async (client, g) => {
        const res = await client.resource.setProviderCapabilities({
          requestId: requestId(o),
          provider: ref,
          generation: await generationOf(client, ref, o),
          capabilities,
        });
        if (res.provider) printOne(g.output, ProviderSchema, res.provider, PROVIDER_DETAIL);
      }),
  );

  return capability;
}

/** The `resource-class` command group. */
export function resourceClassCommand(): Command {
  const resourceClass = new Command("resource-class").description(
    "list and define resource classes (VCPU, MEMORY_MB, CUSTOM_*)",
  );

  withLimit(
    resourceClass.command("list").description("list resource classes, standard and CUSTOM_*"),
  ).action(async (o: { limit?: number }, cmd: Command) =>
    withClient(cmd, async (client, g) => {
      const rows = await collectPages(limitOf(o), async (pageSize, pageToken) => {
        const res = await client.resource.listResourceClasses({ pageSize, pageToken });
        return { items: res.resourceClasses, nextPageToken: res.nextPageToken };
      });
      printList(g.output, ResourceClassSchema, rows, NAME_COLUMNS);
    }),
  );

  withRequestId(
    resourceClass.command("create <name>").description("create a CUSTOM_* resource class"),
  ).action(async (name: string, o: { requestId?: string }, cmd: Command) =>
    withClient(cmd, async (client, g) => {
      const res = await client.resource.createResourceClass({ requestId: requestId(o), name });
      if (res.resourceClass)
        printOne(g.output, ResourceClassSchema, res.resourceClass, NAME_DETAIL);
    }),
  );

  withRequestId(
    resourceClass
      .command("delete <name>")
      .description("delete a CUSTOM_* resource class no inventory uses"),
  ).action(async (name: string, o: { requestId?: string }, cmd: Command) =>
    withClient(cmd, async (client, g) => {
      await client.resource.deleteResourceClass({ requestId: requestId(o), name });
      printDeleted(g.output, "resource class", name);
    }),
  );

  return resourceClass;
}

/** `mulligan inventory …`: what a provider offers, per resource class (ResourceService). */
import { Command } from "commander";
import {
  GetInventoriesResponseSchema,
  type Inventory,
  InventorySchema,
  type ResourceSummary,
  SetInventoriesResponseSchema,
} from "../../gen/mulligan/resource/v1/resource_pb.js";
import { requestId, withClient } from "../context.js";
import { withRequestId } from "../options.js";
import { type Column, messageJson, printDocument, printList, write } from "../output.js";
import { inventoryOf } from "../resource-values.js";
import { generationOf, withGeneration } from "./provider.js";

const COLUMNS: Column<Inventory>[] = [
  { header: "CLASS", value: (i) => i.resourceClass },
  { header: "TOTAL", value: (i) => String(i.total) },
  { header: "RESERVED", value: (i) => String(i.reserved) },
  { header: "MIN", value: (i) => String(i.minUnit) },
  { header: "MAX", value: (i) => String(i.maxUnit) },
  { header: "STEP", value: (i) => String(i.stepSize) },
  { header: "RATIO", value: (i) => String(i.allocationRatio) },
  { header: "CAPACITY", value: (i) => String(i.capacity) },
  { header: "USED", value: (i) => String(i.used) },
];

/** The `inventory` command group. */
export function inventoryCommand(): Command {
  const inventory = new Command("inventory").description(
    "set and show a provider's inventories (what it offers per resource class)",
  );

  withRequestId(
    withGeneration(
      inventory
        .command("set <provider> [inventories...]")
        .description(
          "replace the provider's whole inventory; each CLASS=TOTAL[,reserved=N][,min=N][,max=N][,step=N][,ratio=X] (none: remove every class)",
        ),
    ),
  ).action(
    async (
      ref: string,
      specs: string[],
      o: { generation?: string; requestId?: string },
      cmd: Command,
    ) => {
      const inventories = specs.map(inventoryOf);
      await withClient(cmd, async (client, g) => {
        const res = await client.resource.setInventories({
          requestId: requestId(o),
          provider: ref,
          generation: await generationOf(client, ref, o),
          inventories,
        });
        if (g.output !== "table") {
          printDocument(g.output, messageJson(SetInventoriesResponseSchema, res));
          return;
        }
        printList("table", InventorySchema, res.inventories, COLUMNS);
        write(`generation ${res.provider?.generation ?? ""}`);
        for (const s of res.overCapacity) process.stderr.write(overCapacity(s));
      });
    },
  );

  inventory
    .command("show <provider>")
    .description("show a provider's inventories with capacity and current use")
    .action(async (ref: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const res = await client.resource.getInventories({ provider: ref });
        if (g.output !== "table") {
          printDocument(g.output, messageJson(GetInventoriesResponseSchema, res));
          return;
        }
        printList("table", InventorySchema, res.inventories, COLUMNS);
        write(`generation ${res.generation}`);
      }),
    );

  return inventory;
}

/**
 * The warning (a line for stderr) for a class whose usage now exceeds its capacity: allowed,
 * but nothing more fits until enough is released.
 */
function overCapacity(s: ResourceSummary): string {
  return `warning: ${s.resourceClass} is over capacity: ${s.used} used of ${s.capacity}\n`;
}

/** `mulligan tag …`: an object's free tags (MetadataService.SetTags). */
import { Command } from "commander";
import { RegisteredObjectSchema } from "../../gen/mulligan/meta/v1/meta_pb.js";
import { requestId, withClient } from "../context.js";
import { withRequestId } from "../options.js";
import { printDocument, printOne, write } from "../output.js";
import { OBJECT_DETAIL, selectorOf, withSelector } from "./object.js";

/** The `tag` command group. */
export function tagCommand(): Command {
  const tag = new Command("tag").description("set and list an object's tags");

  withRequestId(
    withSelector(
      tag
        .command("set <object> [tags...]")
        .description("replace the object's tags with the given ones (none: remove every tag)"),
    ),
  ).action(
    async (
      ref: string,
      tags: string[],
      o: { kind?: string; project?: string; requestId?: string },
      cmd: Command,
    ) => {
      const selector = selectorOf(ref, o);
      await withClient(cmd, async (client, g) => {
        const res = await client.meta.setTags({ requestId: requestId(o), selector, tags });
        if (res.object) printOne(g.output, RegisteredObjectSchema, res.object, OBJECT_DETAIL);
      });
    },
  );

  withSelector(tag.command("list <object>").description("list the object's tags")).action(
    async (ref: string, o: { kind?: string; project?: string }, cmd: Command) => {
      const selector = selectorOf(ref, o);
      await withClient(cmd, async (client, g) => {
        const tags = (await client.meta.getObject({ selector })).object?.tags ?? [];
        if (g.output === "table") for (const t of tags) write(t);
        else printDocument(g.output, tags);
      });
    },
  );

  return tag;
}

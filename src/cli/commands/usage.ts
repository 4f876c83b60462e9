/** `mulligan usage` and `mulligan quota …`: what a project uses and may use (ResourceService). */
import { Command } from "commander";
import {
  GetUsagesResponseSchema,
  type Quota,
  QuotaSchema,
  type Usage,
  UsageSchema,
} from "../../gen/mulligan/resource/v1/resource_pb.js";
import { requestId, withClient } from "../context.js";
import { withRequestId } from "../options.js";
import { type Column, messageJson, printDocument, printList, printOne, write } from "../output.js";
import { count } from "../parse.js";

/** A limit for people: -1 (no quota) shows as "none". */
const limitText = (limit: bigint) => (limit < 0n ? "none" : String(limit));

const USAGE_COLUMNS: Column<Usage>[] = [
  { header: "CLASS", value: (u) => u.resourceClass },
  { header: "USED", value: (u) => String(u.used) },
  { header: "LIMIT", value: (u) => limitText(u.limit) },
];

const QUOTA_COLUMNS: Column<Quota>[] = [
  { header: "PROJECT", value: (q) => q.projectName },
  { header: "CLASS", value: (q) => q.resourceClass },
  { header: "LIMIT", value: (q) => limitText(q.limit) },
  { header: "USED", value: (q) => String(q.used) },
];

const QUOTA_DETAIL: Column<Quota>[] = [
  { header: "project", value: (q) => q.projectName },
  { header: "project uuid", value: (q) => q.projectUuid },
  { header: "class", value: (q) => q.resourceClass },
  { header: "limit", value: (q) => limitText(q.limit) },
  { header: "used", value: (q) => String(q.used) },
];

/** `usage` and `quota`. */
export function usageCommands(): Command[] {
  const usage = new Command("usage")
    .description("show a project's usage per resource class, with its limits and consumer count")
    .option("--project <project>", "project (name or UUID; default: the token's)")
    .option("--user <account>", "only consumers of this account")
    .option("--consumer-type <type>", "only consumers of this type")
    .action(async (o: { project?: string; user?: string; consumerType?: string }, cmd: Command) => {
      const request = {
        project: o.project ?? "",
        user: o.user ?? "",
        consumerType: o.consumerType ?? "",
      };
      await withClient(cmd, async (client, g) => {
        const res = await client.resource.getUsages(request);
        if (g.output !== "table") {
          printDocument(g.output, messageJson(GetUsagesResponseSchema, res));
          return;
        }
        printList("table", UsageSchema, res.usages, USAGE_COLUMNS);
        write(`consumers ${res.consumerCount}`);
      });
    });

  const quota = new Command("quota").description("set and show project quotas per resource class");

  withRequestId(
    quota
      .command("set <project> <class> <limit>")
      .description("set a project's limit for one resource class (`none` removes the limit)"),
  ).action(
    async (
      project: string,
      resourceClass: string,
      limitArg: string,
      o: { requestId?: string },
      cmd: Command,
    ) => {
      const limit = limitArg === "none" ? -1n : BigInt(count(limitArg, "limit"));
      await withClient(cmd, async (client, g) => {
        const res = await client.resource.setQuota({
          requestId: requestId(o),
          project,
          resourceClass,
          limit,
        });
        if (res.quota) printOne(g.output, QuotaSchema, res.quota, QUOTA_DETAIL);
      });
    },
  );

  quota
    .command("show [project]")
    .description("show a project's quotas and usage (default: the token's project)")
    .action(async (project: string | undefined, _o: unknown, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const res = await client.resource.getQuotas({ project: project ?? "" });
        printList(g.output, QuotaSchema, res.quotas, QUOTA_COLUMNS);
      }),
    );

  return [usage, quota];
}

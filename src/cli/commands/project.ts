/** `mulligan project …`: the project tree (IdentityService). */
import { Command } from "commander";
import { type Project, ProjectSchema } from "../../gen/mulligan/iam/v1/iam_pb.js";
import { requestId, withClient } from "../context.js";
import { collectPages, limitOf, withLimit, withRequestId } from "../options.js";
import { type Column, printDeleted, printList, printOne, time } from "../output.js";

const COLUMNS: Column<Project>[] = [
  { header: "NAME", value: (p) => p.name },
  { header: "PARENT", value: (p) => p.parentName },
  { header: "DESCRIPTION", value: (p) => p.description },
  { header: "UUID", value: (p) => p.uuid },
];

const DETAIL: Column<Project>[] = [
  { header: "name", value: (p) => p.name },
  { header: "uuid", value: (p) => p.uuid },
  { header: "parent", value: (p) => p.parentName },
  { header: "description", value: (p) => p.description },
  { header: "created", value: (p) => time(p.createTime) },
  { header: "updated", value: (p) => time(p.updateTime) },
];

/** The `project` command group. */
export function projectCommand(): Command {
  const project = new Command("project").description("manage projects (a tree of tenants)");

  withRequestId(
    project
      .command("create <name>")
      .description("create a project")
      .option("--parent <project>", "parent project (name or UUID)")
      .option("--description <text>", "free text"),
  ).action(
    async (
      name: string,
      o: { parent?: string; description?: string; requestId?: string },
      cmd: Command,
    ) =>
      withClient(cmd, async (client, g) => {
        const res = await client.iam.createProject({
          requestId: requestId(o),
          name,
          parent: o.parent ?? "",
          description: o.description ?? "",
        });
        if (res.project) printOne(g.output, ProjectSchema, res.project, DETAIL);
      }),
  );

  withLimit(
    project
      .command("list")
      .description("list projects")
      .option("--parent <project>", "only direct children of this project"),
  ).action(async (o: { parent?: string; limit?: number }, cmd: Command) =>
    withClient(cmd, async (client, g) => {
      const rows = await collectPages(limitOf(o), async (pageSize, pageToken) => {
        const res = await client.iam.listProjects({ pageSize, pageToken, parent: o.parent ?? "" });
        return { items: res.projects, nextPageToken: res.nextPageToken };
      });
      printList(g.output, ProjectSchema, rows, COLUMNS);
    }),
  );

  project
    .command("show <project>")
    .description("show a project (name or UUID)")
    .action(async (ref: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const res = await client.iam.getProject({ project: ref });
        if (res.project) printOne(g.output, ProjectSchema, res.project, DETAIL);
      }),
    );

  withRequestId(
    project
      .command("update <project>")
      .description("change a project's description")
      .option("--description <text>", "free text"),
  ).action(async (ref: string, o: { description?: string; requestId?: string }, cmd: Command) =>
    withClient(cmd, async (client, g) => {
      const res = await client.iam.updateProject({
        requestId: requestId(o),
        project: ref,
        description: o.description ?? "",
        updateMask: { paths: o.description !== undefined ? ["description"] : [] },
      });
      if (res.project) printOne(g.output, ProjectSchema, res.project, DETAIL);
    }),
  );

  withRequestId(project.command("delete <project>").description("delete a project")).action(
    async (ref: string, o: { requestId?: string }, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        await client.iam.deleteProject({ requestId: requestId(o), project: ref });
        printDeleted(g.output, "project", ref);
      }),
  );

  return project;
}

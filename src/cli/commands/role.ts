/** `mulligan role …`: role bindings (account × project × role) in IdentityService. */
import { Command } from "commander";
import { Role, type RoleBinding, RoleBindingSchema } from "../../gen/mulligan/iam/v1/iam_pb.js";
import { requestId, withClient } from "../context.js";
import { UsageError } from "../exit-codes.js";
import { collectPages, limitOf, withLimit, withRequestId } from "../options.js";
import { type Column, label, printDocument, printList, printOne, time, write } from "../output.js";
import { enumChoices, enumValue } from "../parse.js";

const COLUMNS: Column<RoleBinding>[] = [
  { header: "ACCOUNT", value: (b) => b.accountName },
  { header: "PROJECT", value: (b) => b.projectName || "(global)" },
  { header: "ROLE", value: (b) => label(Role, b.role) },
  { header: "CREATED", value: (b) => time(b.createTime) },
];

const DETAIL: Column<RoleBinding>[] = COLUMNS.map((c) => ({
  ...c,
  header: c.header.toLowerCase(),
}));

interface BindingOptions {
  project?: string;
  global?: boolean;
  requestId?: string;
}

/** The `role` command group. */
export function roleCommand(): Command {
  const role = new Command("role").description(`grant and revoke roles (${enumChoices(Role)})`);

  withRequestId(binding(role.command("grant <account> <role>").description("grant a role"))).action(
    async (account: string, roleName: string, o: BindingOptions, cmd: Command) => {
      const request = bindingRequest(account, roleName, o);
      await withClient(cmd, async (client, g) => {
        const res = await client.iam.grantRole(request);
        if (res.binding) printOne(g.output, RoleBindingSchema, res.binding, DETAIL);
      });
    },
  );

  withRequestId(
    binding(role.command("revoke <account> <role>").description("revoke a role")),
  ).action(async (account: string, roleName: string, o: BindingOptions, cmd: Command) => {
    const request = bindingRequest(account, roleName, o);
    await withClient(cmd, async (client, g) => {
      await client.iam.revokeRole(request);
      if (g.output === "table") write(`revoked ${roleName} from ${account}`);
      else
        printDocument(g.output, { revoked: { account, project: request.project, role: roleName } });
    });
  });

  withLimit(
    role
      .command("list")
      .description("list role bindings")
      .option("--account <account>", "only this account's bindings")
      .option("--project <project>", "only bindings on this project"),
  ).action(async (o: { account?: string; project?: string; limit?: number }, cmd: Command) =>
    withClient(cmd, async (client, g) => {
      const rows = await collectPages(limitOf(o), async (pageSize, pageToken) => {
        const res = await client.iam.listRoleBindings({
          pageSize,
          pageToken,
          account: o.account ?? "",
          project: o.project ?? "",
        });
        return { items: res.bindings, nextPageToken: res.nextPageToken };
      });
      printList(g.output, RoleBindingSchema, rows, COLUMNS);
    }),
  );

  return role;
}

function binding(cmd: Command): Command {
  return cmd
    .option("--project <project>", "the project the binding is on (name or UUID)")
    .option("--global", "a global binding, on every project (admin, operator, reader, executor)");
}

/**
 * The grant or revoke request. The binding's project: exactly one of --project and --global,
 * so a global grant is explicit.
 */
function bindingRequest(account: string, roleName: string, o: BindingOptions) {
  if (Boolean(o.project) === Boolean(o.global))
    throw new UsageError("give exactly one of --project P and --global");
  return {
    requestId: requestId(o),
    account,
    project: o.project ?? "",
    role: enumValue(Role, roleName, "role"),
  };
}

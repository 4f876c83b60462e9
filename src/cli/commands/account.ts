/** `mulligan account …`: users, applications and executors (IdentityService). */
import { Command } from "commander";
import {
  type Account,
  AccountKind,
  AccountSchema,
  CreateAccountResponseSchema,
  ResetAccountSecretResponseSchema,
} from "../../gen/mulligan/iam/v1/iam_pb.js";
import { requestId, withClient } from "../context.js";
import { UsageError } from "../exit-codes.js";
import { collectPages, limitOf, withLimit, withRequestId } from "../options.js";
import { type Column, label, printDeleted, printList, printOne, time, write } from "../output.js";
import { enumChoices, enumValue } from "../parse.js";

const COLUMNS: Column<Account>[] = [
  { header: "NAME", value: (a) => a.name },
  { header: "KIND", value: (a) => label(AccountKind, a.kind) },
  { header: "DISABLED", value: (a) => (a.disabled ? "yes" : "no") },
  { header: "DESCRIPTION", value: (a) => a.description },
  { header: "UUID", value: (a) => a.uuid },
];

const DETAIL: Column<Account>[] = [
  { header: "name", value: (a) => a.name },
  { header: "uuid", value: (a) => a.uuid },
  { header: "kind", value: (a) => label(AccountKind, a.kind) },
  { header: "description", value: (a) => a.description },
  { header: "disabled", value: (a) => (a.disabled ? "yes" : "no") },
  { header: "created", value: (a) => time(a.createTime) },
  { header: "updated", value: (a) => time(a.updateTime) },
];

/** An account with its one-time secret (create and reset-secret). */
const WITH_SECRET = <T extends { account?: Account; secret: string }>(): Column<T>[] => [
  ...DETAIL.map((c) => ({
    header: c.header,
    value: (r: T) => (r.account ? c.value(r.account) : ""),
  })),
  { header: "secret", value: (r) => r.secret },
];

const kindHelp = `account kind: ${enumChoices(AccountKind)}`;
const SECRET_NOTE = "the secret is shown only once: keep it safe";

/** The `account` command group. */
export function accountCommand(): Command {
  const account = new Command("account").description(
    "manage accounts (users, applications, executors)",
  );

  withRequestId(
    account
      .command("create <name>")
      .description("create an account and print its secret once")
      .option("--kind <kind>", `${kindHelp} (default user)`, "user")
      .option("--description <text>", "free text"),
  ).action(
    async (
      name: string,
      o: { kind: string; description?: string; requestId?: string },
      cmd: Command,
    ) => {
      const kind = enumValue(AccountKind, o.kind, "--kind");
      await withClient(cmd, async (client, g) => {
        const res = await client.iam.createAccount({
          requestId: requestId(o),
          name,
          kind,
          description: o.description ?? "",
        });
        printOne(g.output, CreateAccountResponseSchema, res, WITH_SECRET());
        if (g.output === "table") write(SECRET_NOTE);
      });
    },
  );

  withLimit(
    account
      .command("list")
      .description("list accounts")
      .option("--kind <kind>", `only this ${kindHelp}`),
  ).action(async (o: { kind?: string; limit?: number }, cmd: Command) => {
    const kind = o.kind ? enumValue(AccountKind, o.kind, "--kind") : AccountKind.UNSPECIFIED;
    await withClient(cmd, async (client, g) => {
      const rows = await collectPages(limitOf(o), async (pageSize, pageToken) => {
        const res = await client.iam.listAccounts({ pageSize, pageToken, kind });
        return { items: res.accounts, nextPageToken: res.nextPageToken };
      });
      printList(g.output, AccountSchema, rows, COLUMNS);
    });
  });

  account
    .command("show <account>")
    .description("show an account (name or UUID)")
    .action(async (ref: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const res = await client.iam.getAccount({ account: ref });
        if (res.account) printOne(g.output, AccountSchema, res.account, DETAIL);
      }),
    );

  withRequestId(
    account
      .command("update <account>")
      .description("change an account's description, or disable / enable it")
      .option("--description <text>", "free text")
      .option("--disable", "refuse its authentication from now on")
      .option("--enable", "allow it to authenticate again"),
  ).action(
    async (
      ref: string,
      o: { description?: string; disable?: boolean; enable?: boolean; requestId?: string },
      cmd: Command,
    ) => {
      if (o.disable && o.enable) throw new UsageError("give --disable or --enable, not both");
      const paths: string[] = [];
      if (o.description !== undefined) paths.push("description");
      if (o.disable || o.enable) paths.push("disabled");
      await withClient(cmd, async (client, g) => {
        const res = await client.iam.updateAccount({
          requestId: requestId(o),
          account: ref,
          description: o.description ?? "",
          disabled: Boolean(o.disable),
          updateMask: { paths },
        });
        if (res.account) printOne(g.output, AccountSchema, res.account, DETAIL);
      });
    },
  );

  withRequestId(account.command("delete <account>").description("delete an account")).action(
    async (ref: string, o: { requestId?: string }, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        await client.iam.deleteAccount({ requestId: requestId(o), account: ref });
        printDeleted(g.output, "account", ref);
      }),
  );

  withRequestId(
    account
      .command("reset-secret <account>")
      .description("issue a new secret (the old one stops working at once) and print it once"),
  ).action(async (ref: string, o: { requestId?: string }, cmd: Command) =>
    withClient(cmd, async (client, g) => {
      const res = await client.iam.resetAccountSecret({ requestId: requestId(o), account: ref });
      printOne(g.output, ResetAccountSecretResponseSchema, res, WITH_SECRET());
      if (g.output === "table") write(SECRET_NOTE);
    }),
  );

  return account;
}

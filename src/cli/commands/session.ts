/** `mulligan login`, `logout` and `whoami`: the stored login (credentials.ts). */
import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import { Command } from "commander";
import { Role, WhoAmIResponseSchema } from "../../gen/mulligan/iam/v1/iam_pb.js";
import { connect, globalOptions, resolveTarget, withClient } from "../context.js";
import { credentialsPath, removeLogin, writeLogin } from "../credentials.js";
import { UsageError } from "../exit-codes.js";
import { label, printDocument, printOne, printPairs, time, write } from "../output.js";
import { count } from "../parse.js";

interface LoginOptions {
  account: string;
  project?: string;
  secret?: string;
  secretStdin?: boolean;
  ttl?: number;
}

/** `mulligan login`: exchanges an account's secret for a token and stores it (mode 0600). */
export function loginCommand(): Command {
  return new Command("login")
    .description("authenticate and store the token for later commands")
    .requiredOption("--account <name>", "account name or UUID")
    .option(
      "--project <project>",
      "project the token is scoped to (default: none, global roles only)",
    )
    .option(
      "--secret <secret>",
      "the account's secret (visible in the process list: prefer the next two)",
    )
    .option("--secret-stdin", "read the secret from stdin (env MULLIGAN_SECRET works too)")
    .option("--ttl <seconds>", "requested token lifetime (capped by the server)", (v) =>
      count(v, "--ttl"),
    )
    .action(async (o: LoginOptions, cmd: Command) => {
      const g = globalOptions(cmd);
      const target = resolveTarget(g);
      const secret = await readSecret(o);
      const client = await connect(target, "");
      try {
        const res = await client.iam.authenticate({
          account: o.account,
          secret,
          project: o.project ?? "",
          ttlSeconds: o.ttl ?? 0,
        });
        const login = {
          server: target.serverUrl,
          account: res.account?.name ?? o.account,
          project: res.project?.name ?? "",
          token: res.token,
          expiry: time(res.expireTime),
        };
        const path = writeLogin(login);
        const roles = res.roles.map((r) => label(Role, r));
        if (g.output === "table") {
          printPairs([
            ["server", login.server],
            ["account", login.account],
            ["project", login.project],
            ["roles", roles.join(", ")],
            ["expires", login.expiry],
          ]);
          write(`token stored in ${path}`);
        } else {
          const { token: _token, ...shown } = login;
          printDocument(g.output, { ...shown, roles, credentials: path });
        }
      } finally {
        client.close();
      }
    });
}

/** `mulligan logout`: forgets the stored login. */
export function logoutCommand(): Command {
  return new Command("logout").description("forget the stored login").action(() => {
    write(removeLogin() ? `removed ${credentialsPath()}` : "not logged in");
  });
}

/** `mulligan whoami`: the account, project and roles of the current token. */
export function whoamiCommand(): Command {
  return new Command("whoami")
    .description("show the account, project and roles of the current token")
    .action(async (_o: unknown, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const res = await client.iam.whoAmI({});
        printOne(g.output, WhoAmIResponseSchema, res, [
          { header: "account", value: (r) => r.account?.name ?? "" },
          { header: "project", value: (r) => r.project?.name ?? "" },
          { header: "roles", value: (r) => r.roles.map((x) => label(Role, x)).join(", ") },
          { header: "expires", value: (r) => time(r.expireTime) },
        ]);
      }),
    );
}

/** The secret from --secret, --secret-stdin, MULLIGAN_SECRET, or a prompt on a terminal. */
async function readSecret(o: LoginOptions): Promise<string> {
  if (o.secret !== undefined && o.secretStdin)
    throw new UsageError("give --secret or --secret-stdin, not both");
  if (o.secret !== undefined) return o.secret;
  if (o.secretStdin) return (await readAll(process.stdin)).trim();
  if (process.env.MULLIGAN_SECRET) return process.env.MULLIGAN_SECRET;
  if (!process.stdin.isTTY)
    throw new UsageError(
      "no secret given: use --secret-stdin, MULLIGAN_SECRET or a terminal to type it",
    );
  return prompt(`secret for ${o.account}: `);
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = "";
  for await (const chunk of stream) text += chunk.toString();
  return text;
}

/** Asks on the terminal without echoing what is typed. */
function prompt(question: string): Promise<string> {
  process.stderr.write(question);
  const muted = new Writable({ write: (_chunk, _enc, done) => done() });
  const rl = createInterface({ input: process.stdin, output: muted, terminal: true });
  return new Promise((resolve) => {
    rl.question("", (answer) => {
      rl.close();
      process.stderr.write("\n");
      resolve(answer);
    });
  });
}

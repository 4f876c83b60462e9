/**
 * `mulligan bootstrap`: the first signing key, project, admin account and region of a fresh
 * installation, against a running server (on loopback) or offline on a data directory. Prints
 * the admin's secret once and stores the admin's token as the login.
 */
import { join } from "node:path";
import { Command } from "commander";
import { connect, globalOptions, resolveTarget, type Target } from "../context.js";
import { writeLogin } from "../credentials.js";
import { type Format, printDocument, printPairs, time, write } from "../output.js";

interface BootstrapOptions {
  account: string;
  project: string;
  region: string;
  dataDir?: string;
  database?: string;
  requestId?: string;
}

/** What bootstrap prints (and `-o json` emits for scripts). */
interface BootstrapOutput {
  account: string;
  secret: string;
  project: string;
  region: string;
  token: string;
  /** When the token expires (ISO-8601). */
  expiry: string;
  server: string;
}

/** The `bootstrap` command. */
export function bootstrapCommand(): Command {
  return new Command("bootstrap")
    .description(
      "create the signing key, first project, admin account and first region of a fresh installation; " +
        "against the server, or offline with --data-dir (the server stopped)",
    )
    .option("--account <name>", "admin account name", "admin")
    .option("--project <name>", "first project name", "admin")
    .option("--region <name>", "first region name", "default")
    .option("--data-dir <dir>", "bootstrap this data directory offline instead of calling a server")
    .option(
      "--database <url>",
      "offline: sqlite:PATH or postgres://… (default sqlite:<data-dir>/mulligan.db)",
    )
    .option("--request-id <id>", "idempotency key of the Bootstrap call")
    .action(async (o: BootstrapOptions, cmd: Command) => {
      const g = globalOptions(cmd);
      const target = resolveTarget(g);
      const offline = o.dataDir !== undefined || o.database !== undefined;
      const result = offline ? await bootstrapOffline(o, target) : await bootstrapOnline(o, target);
      writeLogin({
        server: result.server,
        account: result.account,
        project: result.project,
        token: result.token,
        expiry: result.expiry,
      });
      print(g.output, result);
    });
}

async function bootstrapOnline(o: BootstrapOptions, target: Target): Promise<BootstrapOutput> {
  const anonymous = await connect(target, "");
  let boot: Awaited<ReturnType<typeof anonymous.iam.bootstrap>>;
  try {
    boot = await anonymous.iam.bootstrap({
      requestId: o.requestId ?? "",
      accountName: o.account,
      projectName: o.project,
    });
  } finally {
    anonymous.close();
  }
  const admin = await connect(target, boot.token);
  try {
    const res = await admin.meta.createRegion({ name: o.region });
    return {
      account: boot.account?.name ?? o.account,
      secret: boot.secret,
      project: boot.project?.name ?? o.project,
      region: res.region?.name ?? o.region,
      token: boot.token,
      expiry: time(boot.tokenExpireTime),
      server: target.serverUrl,
    };
  } finally {
    admin.close();
  }
}

async function bootstrapOffline(o: BootstrapOptions, target: Target): Promise<BootstrapOutput> {
  // The server's own code, loaded only here so client commands start fast.
  const [
    { bootstrap: bootstrapIdentity },
    { createFirstRegion },
    { toConnectError },
    { migrate },
    { openStore },
  ] = await Promise.all([
    import("../../iam/bootstrap.js"),
    import("../../meta/module.js"),
    import("../../platform/grpc-errors.js"),
    import("../../store/migrate.js"),
    import("../../store/store.js"),
  ]);
  const url = o.database ?? `sqlite:${join(o.dataDir ?? ".", "mulligan.db")}`;
  const store = await openStore(url);
  try {
    await migrate(store);
    const boot = await bootstrapIdentity(store, {
      requestId: o.requestId,
      accountName: o.account,
      projectName: o.project,
    });
    const region = await createFirstRegion(store, o.region);
    return {
      account: boot.account.name,
      secret: boot.secret,
      project: boot.project.name,
      region,
      token: boot.token,
      expiry: time(boot.tokenExpireTime),
      server: target.serverUrl,
    };
  } catch (err) {
    // Domain errors carry the same code and reason as the RPC would answer.
    throw toConnectError(err);
  } finally {
    await store.close();
  }
}

function print(format: Format, r: BootstrapOutput): void {
  if (format !== "table") {
    printDocument(format, r);
    return;
  }
  printPairs([
    ["server", r.server],
    ["account", r.account],
    ["secret", r.secret],
    ["project", r.project],
    ["region", r.region],
    ["token expires", r.expiry],
  ]);
  write("The secret is shown only once: keep it safe. The admin token is stored as your login;");
  write(
    `when it expires, run: mulligan login --account ${r.account} --project ${r.project} --secret-stdin`,
  );
}

/**
 * What every client command needs: the global options, the server and token resolved from
 * flags, environment and the stored login, a connected SDK client, and a request id.
 *
 * Server: --server > MULLIGAN_SERVER > the stored login > 127.0.0.1:7443.
 * Token: --token > MULLIGAN_TOKEN > the stored login (only when it is for the same server, so
 * a token never leaks to another server).
 */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { MulliganClient } from "../client/client.js";
import { DEFAULT_SERVER, serverUrl } from "../client/options.js";
import { readLogin, type StoredLogin } from "./credentials.js";
import { UsageError } from "./exit-codes.js";
import type { Format } from "./output.js";

/** The global options (see program.ts). */
export interface GlobalOptions {
  server?: string;
  token?: string;
  ca?: string;
  output: Format;
}

export interface Target {
  /** Base URL of the server. */
  serverUrl: string;
  token: string | undefined;
  /** The stored login the token came from, if it did. */
  login: StoredLogin | undefined;
  ca: Buffer | undefined;
}

/** The global options as seen from any (sub)command. */
export function globalOptions(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

/** Resolves the server, token and CA for a command. */
export function resolveTarget(opts: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Target {
  const stored = readLogin(env);
  const given = opts.server ?? env.MULLIGAN_SERVER ?? stored?.server ?? DEFAULT_SERVER;
  let url: string;
  try {
    url = serverUrl(given);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const login = stored && stored.server === url ? stored : undefined;
  const token = opts.token ?? env.MULLIGAN_TOKEN ?? login?.token;
  let ca: Buffer | undefined;
  const caFile = opts.ca ?? env.MULLIGAN_CA;
  if (caFile) {
    try {
      ca = readFileSync(caFile);
    } catch (err) {
      throw new UsageError(`--ca ${caFile}: ${(err as Error).message}`);
    }
  }
  return {
    serverUrl: url,
    token: token || undefined,
    login: token && token === login?.token ? login : undefined,
    ca,
  };
}

/** The target of the command being run; errors say which server was tried. */
let current: Target | undefined;

/** The target of the last connect, for error messages. */
export function currentTarget(): Target | undefined {
  return current;
}

/** Connects the SDK to the resolved server; `token` overrides the resolved token. */
export async function connect(target: Target, token = target.token): Promise<MulliganClient> {
  current = {
    ...target,
    token,
    login: token && token === target.login?.token ? target.login : undefined,
  };
  return MulliganClient.connect({ server: target.serverUrl, token, ca: target.ca });
}

/**
 * Runs `body` with a client connected for `cmd` and closes it afterwards; errors propagate to
 * main.ts, which prints them and sets the exit code.
 */
export async function withClient<T>(
  cmd: Command,
  body: (client: MulliganClient, opts: GlobalOptions) => Promise<T>,
): Promise<T> {
  const opts = globalOptions(cmd);
  const client = await connect(resolveTarget(opts));
  try {
    return await body(client, opts);
  } finally {
    client.close();
  }
}

/** The request id of a mutation: --request-id, else a fresh one for this invocation. */
export function requestId(options: { requestId?: string }): string {
  return options.requestId ?? crypto.randomUUID();
}

/**
 * The executor's link to the control plane: one smart client (catalog-routed) and a token
 * that is renewed before it expires. The token is sent per call rather than baked into the
 * client's transports, so a renewed token takes effect at once without reconnecting.
 */
import type { DescService } from "@bufbuild/protobuf";
import { type CallOptions, type Client, Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import { MulliganClient } from "../client/client.js";
import { backoffDelay, sleep } from "./backoff.js";

/** Who the executor is and where it connects. */
export interface SessionOptions {
  server: string;
  ca: string | Buffer | undefined;
  account: string;
  secret: string;
  project: string;
  logger: Logger;
}

/** Renew when this share of the token's lifetime has passed. */
const RENEW_AT = 0.75;
/** Never renew more often than this, whatever lifetime the server grants. */
const MIN_RENEW_MS = 5_000;
/** After a refused renewal, the next try (the operator may be fixing the account). */
const REFUSED_RETRY_MS = 60_000;

export class ExecutorSession {
  private token = "";
  private renewTimer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> | undefined;
  private readonly closing = new AbortController();

  private constructor(
    private readonly client: MulliganClient,
    private readonly options: SessionOptions,
  ) {}

  /** Connects and authenticates; fails at once if the server is unreachable or refuses us. */
  static async open(options: SessionOptions): Promise<ExecutorSession> {
    const client = await MulliganClient.connect({ server: options.server, ca: options.ca });
    const session = new ExecutorSession(client, options);
    try {
      await session.authenticate();
    } catch (err) {
      client.close();
      throw err;
    }
    return session;
  }

  /** A client of `desc` whose every call carries the current token. */
  authorized<T extends DescService>(desc: T): Client<T> {
    const inner = this.client.service(desc) as unknown as Record<string, unknown>;
    const withToken = (options: CallOptions | undefined): CallOptions => {
      const headers = new Headers(options?.headers);
      headers.set("authorization", `Bearer ${this.token}`);
      return { ...options, headers };
    };
    return new Proxy(inner, {
      get(target, prop) {
        const method = target[prop as string];
        if (typeof method !== "function") return method;
        return (request: unknown, options?: CallOptions) =>
          method.call(target, request, withToken(options));
      },
    }) as unknown as Client<T>;
  }

  /** Asks for a new token now (after an UNAUTHENTICATED answer); concurrent asks share one. */
  renewNow(): Promise<void> {
    this.renewing ??= this.renewUntilDone().finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  /** Stops renewing and closes the connections; calls still running fail. */
  close(): void {
    this.closing.abort();
    clearTimeout(this.renewTimer);
    this.client.close();
  }

  private async authenticate(): Promise<void> {
    const res = await this.client.iam.authenticate({
      account: this.options.account,
      secret: this.options.secret,
      project: this.options.project,
    });
    this.token = res.token;
    const expiresMs = res.expireTime ? Number(res.expireTime.seconds) * 1000 : Date.now();
    const delay = Math.max(MIN_RENEW_MS, (expiresMs - Date.now()) * RENEW_AT);
    this.scheduleRenewal(delay);
  }

  /**
   * Renews, retrying while the server is away; the old token serves until it expires. A
   * refusal (secret revoked, account disabled) is logged and tried again at the next renewal.
   */
  private async renewUntilDone(): Promise<void> {
    for (let attempt = 0; !this.closing.signal.aborted; attempt++) {
      try {
        await this.authenticate();
        if (attempt > 0) this.options.logger.info("token renewed");
        return;
      } catch (err) {
        const e = ConnectError.from(err);
        const transient = e.code === Code.Unavailable || e.code === Code.DeadlineExceeded;
        if (!transient || attempt === 0)
          this.options.logger[transient ? "warn" : "error"](
            { code: Code[e.code], err: e.rawMessage },
            transient ? "cannot renew the token; retrying" : "token renewal refused",
          );
        if (!transient) {
          this.scheduleRenewal(REFUSED_RETRY_MS);
          return;
        }
        await sleep(backoffDelay(attempt), this.closing.signal);
      }
    }
  }

  private scheduleRenewal(delayMs: number): void {
    clearTimeout(this.renewTimer);
    this.renewTimer = setTimeout(() => void this.renewNow(), delayMs);
    this.renewTimer.unref();
  }
}

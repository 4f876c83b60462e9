/**
 * HTTP(S) to one Redfish service, with its authentication: a session (POST
 * SessionService/Sessions → X-Auth-Token, DELETE on close) when the service offers one, HTTP
 * basic auth otherwise, and a new session once when a token expires. Requests go through
 * node:http/https rather than the global fetch because Node 20's fetch cannot switch TLS
 * verification off per request without the undici package; `verifyTls: false` is for BMCs with
 * self-signed certificates. Answers are JSON; failures become BmcErrors (401 → AUTH_FAILED,
 * no connection → BMC_UNREACHABLE, no answer in time → BMC_TIMEOUT).
 */
import http from "node:http";
import https from "node:https";
import { type BmcEndpoint, BmcError } from "../bmc-driver.js";

/** A Redfish answer: status, headers and the parsed JSON body (undefined when empty). */
export interface RedfishResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown> | undefined;
}

export class RedfishClient {
  private token: string | undefined;
  private sessionUri: string | undefined;
  private authMode: "unknown" | "session" | "basic" = "unknown";
  private readonly agent: http.Agent;

  constructor(
    private readonly endpoint: BmcEndpoint,
    private readonly timeoutMs: number,
  ) {
    this.agent =
      this.scheme === "https"
        ? new https.Agent({ keepAlive: true, rejectUnauthorized: endpoint.verifyTls !== false })
        : new http.Agent({ keepAlive: true });
  }

  private get scheme() {
    return this.endpoint.scheme ?? "https";
  }

  /** An authenticated request; logs in first when needed. Throws on any status ≥ 400. */
  async request(method: string, path: string, body?: unknown, signal?: AbortSignal) {
    if (this.authMode === "unknown") await this.login(signal);
    let response = await this.send(method, path, body, this.authHeaders(), signal);
    if (response.status === 401 && this.authMode === "session") {
      this.token = undefined; // expired or revoked: one new session, then give up
      await this.login(signal);
      response = await this.send(method, path, body, this.authHeaders(), signal);
    }
    return check(method, path, response);
  }

  /** Deletes the session, if one is open, and closes the kept-alive connections. */
  async logout(): Promise<void> {
    const uri = this.sessionUri;
    if (this.authMode === "session" && uri) {
      try {
        await this.send("DELETE", uri, undefined, this.authHeaders());
      } catch {
        // an unreachable BMC expires the session by itself
      }
    }
    this.sessionUri = undefined;
    this.token = undefined;
    this.authMode = "unknown";
    this.agent.destroy();
  }

  private async login(signal?: AbortSignal): Promise<void> {
    const { username, password } = this.endpoint;
    const response = await this.send(
      "POST",
      "/redfish/v1/SessionService/Sessions",
      { UserName: username, Password: password },
      {},
      signal,
    );
    const token = response.headers["x-auth-token"];
    if (response.status < 300 && typeof token === "string") {
      this.token = token;
      const location = response.headers.location;
      const id = response.body?.["@odata.id"];
      this.sessionUri =
        typeof id === "string" ? id : location && new URL(location, "http://x").pathname;
      this.authMode = "session";
      return;
    }
    if (response.status === 401 || response.status === 403) throw authFailed();
    // No session service here: every request carries basic auth instead.
    this.authMode = "basic";
  }

  private authHeaders(): Record<string, string> {
    if (this.authMode === "session" && this.token) return { "X-Auth-Token": this.token };
    const { username, password } = this.endpoint;
    return { Authorization: `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}` };
  }

  private send(
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<RedfishResponse> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const lib = this.scheme === "https" ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(
        {
          host: this.endpoint.address,
          port: this.endpoint.port,
          method,
          path,
          agent: this.agent,
          headers: {
            Accept: "application/json",
            "OData-Version": "4.0",
            ...(payload === undefined
              ? {}
              : {
                  "Content-Type": "application/json",
                  "Content-Length": Buffer.byteLength(payload),
                }),
            ...headers,
          },
          timeout: this.timeoutMs,
          ...(signal ? { signal } : {}),
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            text += chunk;
          });
          res.on("end", () => {
            let parsed: Record<string, unknown> | undefined;
            try {
              parsed = text.trim() === "" ? undefined : JSON.parse(text);
            } catch {
              reject(new BmcError("BMC_PROTOCOL_ERROR", `${method} ${path}: answer is not JSON`));
              return;
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
          });
          res.on("error", (error) => reject(networkError(method, path, error)));
        },
      );
      req.on("timeout", () => {
        req.destroy(
          new BmcError("BMC_TIMEOUT", `${method} ${path}: no answer within ${this.timeoutMs} ms`),
        );
      });
      req.on("error", (error) => {
        if (signal?.aborted) reject(signal.reason);
        else reject(error instanceof BmcError ? error : networkError(method, path, error));
      });
      req.end(payload);
    });
  }
}

function authFailed(): BmcError {
  return new BmcError(
    "AUTH_FAILED",
    "the Redfish service refused the login: wrong username or password (HTTP 401)",
  );
}

function networkError(method: string, path: string, error: Error & { code?: string }) {
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/i.test(error.code ?? error.message)) {
    return new BmcError(
      "BMC_PROTOCOL_ERROR",
      `${method} ${path}: TLS verification failed (${error.code ?? error.message}); set verifyTls false for a self-signed BMC certificate`,
    );
  }
  return new BmcError("BMC_UNREACHABLE", `${method} ${path}: ${error.code ?? error.message}`);
}

/** The Redfish error message of an answer, if it carries one. */
function redfishMessage(response: RedfishResponse): string {
  const error = response.body?.error as { message?: string } | undefined;
  return error?.message ?? `HTTP ${response.status}`;
}

function check(method: string, path: string, response: RedfishResponse): RedfishResponse {
  if (response.status < 400) return response;
  if (response.status === 401) throw authFailed();
  if (response.status >= 500) {
    throw new BmcError("BMC_UNREACHABLE", `${method} ${path}: ${redfishMessage(response)}`);
  }
  throw new BmcError("BMC_PROTOCOL_ERROR", `${method} ${path}: ${redfishMessage(response)}`);
}

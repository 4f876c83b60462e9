/**
 * A small JSON client for OpenStack Placement's REST API over plain HTTP on loopback: noauth2's
 * `x-auth-token: admin`, a pinned microversion, a per-request timeout long enough for
 * Placement's slowest queries (node's fetch gives up on headers after 300 s), and no keep-alive
 * (uwsgi's http-socket closes idle connections, and a fresh loopback connection costs ~0.1 ms).
 */
import { request } from "node:http";

/** The microversion every request asks for (the newest Placement 8.0.0 serves). */
export const PLACEMENT_MICROVERSION = "1.39";

export interface HttpResult {
  status: number;
  /** Parsed JSON body, or null for an empty one. */
  body: unknown;
}

/** An unexpected status from Placement, with the start of its body. */
export class PlacementHttpError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    text: string,
  ) {
    super(`${method} ${path} → ${status}: ${text.slice(0, 400)}`);
  }
}

/** A client bound to one Placement base URL (http://127.0.0.1:PORT). */
export class PlacementHttp {
  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs = 3_600_000,
  ) {}

  /** Sends one request; resolves with any status (callers decide what is an error). */
  send(method: string, path: string, body?: unknown): Promise<HttpResult> {
    const url = new URL(path, this.baseUrl);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          agent: false,
          headers: {
            accept: "application/json",
            "x-auth-token": "admin",
            "openstack-api-version": `placement ${PLACEMENT_MICROVERSION}`,
            ...(payload
              ? { "content-type": "application/json", "content-length": payload.length }
              : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", reject);
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            const status = res.statusCode ?? 0;
            let parsed: unknown = null;
            if (text !== "") {
              try {
                parsed = JSON.parse(text);
              } catch {
                parsed = text;
              }
            }
            resolve({ status, body: parsed });
          });
        },
      );
      req.setTimeout(this.timeoutMs, () =>
        req.destroy(new Error(`${method} ${path}: no answer in ${this.timeoutMs} ms`)),
      );
      req.on("error", reject);
      req.end(payload);
    });
  }

  /** Sends one request and throws PlacementHttpError unless the status is one of `ok`. */
  async expect(method: string, path: string, body: unknown, ok: number[]): Promise<unknown> {
    const r = await this.send(method, path, body);
    if (!ok.includes(r.status))
      throw new PlacementHttpError(
        method,
        path,
        r.status,
        typeof r.body === "string" ? r.body : JSON.stringify(r.body),
      );
    return r.body;
  }
}

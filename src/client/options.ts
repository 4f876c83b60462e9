/**
 * Options of `MulliganClient.connect`, with every default compiled in one place (as Temporal's
 * SDK does): callers state only what differs from the defaults.
 */

/** Where a client goes when nothing else names a server. */
export const DEFAULT_SERVER = "127.0.0.1:7443";

/** Deadline of every call unless the call sets its own `timeoutMs`. */
export const DEFAULT_DEADLINE_MS = 30_000;

/** Attempts of a call that fails with UNAVAILABLE (server restarting, connection lost). */
export const DEFAULT_MAX_ATTEMPTS = 3;

export interface ConnectOptions {
  /** `HOST:PORT` (cleartext HTTP/2) or a URL `http://…` / `https://…`; default 127.0.0.1:7443. */
  server?: string;
  /** A token from Authenticate or Bootstrap, sent as `authorization: Bearer …`; none if unset. */
  token?: string;
  /** PEM certificate(s) trusted for https:// endpoints, in addition to the system roots. */
  ca?: string | Buffer;
  /** Aborts `connect` (the catalog fetch). */
  signal?: AbortSignal;
  /** Default deadline of each call in milliseconds. */
  deadlineMs?: number;
  /** Attempts per call when the server answers UNAVAILABLE; 1 disables retries. */
  maxAttempts?: number;
}

/** The options with every default applied. */
export interface ResolvedOptions {
  serverUrl: string;
  token: string | undefined;
  ca: string | Buffer | undefined;
  signal: AbortSignal | undefined;
  deadlineMs: number;
  maxAttempts: number;
}

/** Applies the defaults; throws a plain Error if the server address is malformed. */
export function resolveOptions(options: ConnectOptions = {}): ResolvedOptions {
  return {
    serverUrl: serverUrl(options.server ?? DEFAULT_SERVER),
    token: options.token || undefined,
    ca: options.ca,
    signal: options.signal,
    deadlineMs: options.deadlineMs ?? DEFAULT_DEADLINE_MS,
    maxAttempts: Math.max(1, options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS),
  };
}

/**
 * The base URL of a server given as `HOST:PORT`, `[v6]:PORT` or an http(s) URL. A bare
 * address means cleartext HTTP/2 (h2c), as `mulligan serve` listens on loopback by default.
 */
export function serverUrl(server: string): string {
  const text = server.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`server "${server}" is not HOST:PORT or an http(s):// URL`);
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || !url.hostname)
    throw new Error(`server "${server}" is not HOST:PORT or an http(s):// URL`);
  return `${url.protocol}//${url.host}`;
}

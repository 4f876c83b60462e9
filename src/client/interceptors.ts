/**
 * What the SDK adds to every call: the bearer token, a request id on every mutation that has
 * none (so a retry is answered from the server's request log instead of acting twice), and a
 * few retries when the server is momentarily unavailable.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

/** Sends `authorization: Bearer <token>` with every call. */
export function bearerToken(token: string): Interceptor {
  return (next) => (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
}

/** Fills an empty `request_id` of a unary request with a fresh UUID. */
export const requestIds: Interceptor = (next) => (req) => {
  if (!req.stream && req.method.input.field.requestId) {
    const message = req.message as { requestId?: string };
    if (message.requestId === "") message.requestId = crypto.randomUUID();
  }
  return next(req);
};

/**
 * Retries a unary call that failed with UNAVAILABLE, up to `maxAttempts` in all, with a short
 * growing pause. Safe: reads have no effect and mutations carry a request id (see requestIds).
 */
export function retryUnavailable(maxAttempts: number): Interceptor {
  return (next) => async (req) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await next(req);
      } catch (err) {
        const e = ConnectError.from(err);
        if (
          req.stream ||
          e.code !== Code.Unavailable ||
          attempt >= maxAttempts ||
          req.signal.aborted
        )
          throw err;
        await pause(100 * 2 ** (attempt - 1), req.signal);
      }
    }
  };
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

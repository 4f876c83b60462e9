/**
 * Server interceptors, outermost first:
 * 1. `observe` — one JSON log line and the metrics of every call, and the boundary where any
 *    thrown error becomes a ConnectError with Mulligan's details;
 * 2. `authenticate` — verifies the bearer token and applies the service's policy table.
 * Note (connect-es invocation): around a streaming response the interceptor returns when the
 * stream starts, so a stream is logged at its start.
 */
import type { Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { tokenKey } from "./caller.js";
import { MulliganError } from "./errors.js";
import { codeName, toConnectError } from "./grpc-errors.js";
import type { Metrics } from "./metrics.js";
import { allows, type PolicyTable } from "./policy.js";
import { principalKey } from "./principal.js";
import type { TokenVerifier } from "./tokens.js";

/** Which logger records a service's calls: the part's own, so Configure's log level applies. */
export type LoggerFor = (serviceTypeName: string) => Logger;

/** Services whose calls are logged at debug: probes would otherwise flood the log. */
const QUIET_SERVICES = new Set(["grpc.health.v1.Health"]);

/** Logs and measures each call, answers DEADLINE_EXCEEDED once the deadline passes, and normalises errors. */
export function observe(loggerFor: LoggerFor, metrics: Metrics): Interceptor {
  return (next) => async (req) => {
    const started = performance.now();
    const method = `${req.service.typeName}/${req.method.name}`;
    const logger = loggerFor(req.service.typeName);
    const message = req.stream ? undefined : (req.message as { requestId?: unknown });
    const requestId =
      typeof message?.requestId === "string" && message.requestId ? message.requestId : undefined;
    logger.debug({ method, requestId }, "rpc start");
    let code = "OK";
    try {
      if (!req.stream) return await untilDeadline(next(req), req.signal);
      const res = await next(req);
      // Errors thrown while a response streams get Mulligan's details too.
      return res.stream ? { ...res, message: withWireErrors(res.message, req.signal) } : res;
    } catch (err) {
      // A call aborted by its deadline must say so, not INTERNAL.
      const cause = req.signal.aborted && !(err instanceof MulliganError) ? req.signal.reason : err;
      const wire = toConnectError(cause);
      code = codeName(wire.code);
      if (code === "INTERNAL") logger.error({ method, err }, "internal error");
      throw wire;
    } finally {
      const seconds = (performance.now() - started) / 1000;
      metrics.rpcCalls.inc({ method, code });
      metrics.rpcSeconds.observe({ method, code }, seconds);
      const principal = req.contextValues.get(principalKey);
      logger[QUIET_SERVICES.has(req.service.typeName) ? "debug" : "info"](
        {
          method,
          code,
          ms: Math.round(seconds * 100000) / 100,
          requestId,
          account: principal?.accountName,
          project: principal?.projectName ?? undefined,
        },
        "rpc",
      );
    }
  };
}

/** Passes a response stream through, turning what it throws into a wire error. */
async function* withWireErrors<T>(
  messages: AsyncIterable<T>,
  signal: AbortSignal,
): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (err) {
    throw toConnectError(signal.aborted && !(err instanceof MulliganError) ? signal.reason : err);
  }
}

/**
 * Settles with the handler's result, or rejects with the signal's reason as soon as it aborts
 * (deadline passed, client gone): the transport ends the call on the wire, but the handler's
 * promise would still settle later and be logged with its own code. The
 * handler may still be running; it watches the same signal.
 */
function untilDeadline<T>(result: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    result.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    result.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

/** Verifies the caller's token and checks the method against its service's policy table. */
export function authenticate(
  verifier: TokenVerifier,
  policies: ReadonlyMap<string, PolicyTable>,
): Interceptor {
  return (next) => async (req) => {
    const access = policies.get(req.service.typeName)?.[req.method.name];
    if (access === undefined)
      throw MulliganError.permissionDenied("NO_POLICY", `no policy for ${req.method.name}`);
    if (access === "public") return next(req);
    const header = req.header.get("authorization") ?? "";
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1])
      throw MulliganError.unauthenticated("TOKEN_MISSING", "this call needs a bearer token");
    const principal = await verifier.verify(match[1]);
    if (!allows(access, principal))
      throw MulliganError.permissionDenied(
        "ROLE_REQUIRED",
        `${req.method.name} needs one of the roles: ${(access as readonly string[]).join(", ")}`,
      );
    req.contextValues.set(principalKey, principal);
    req.contextValues.set(tokenKey, match[1]);
    return next(req);
  };
}

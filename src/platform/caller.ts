/**
 * The caller of a request as domain code sees it: the verified principal and the raw token (to
 * forward when a part must ask another part over gRPC on the caller's behalf).
 */
import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import { MulliganError } from "./errors.js";
import { type Principal, principalKey } from "./principal.js";

export interface Caller {
  principal: Principal;
  token: string;
}

/** The bearer token of the call, set by the auth interceptor. */
export const tokenKey = createContextKey<string>("", { description: "bearer token" });

/** The caller of an authenticated call; throws UNAUTHENTICATED on a public one. */
export function callerOf(ctx: HandlerContext): Caller {
  const principal = ctx.values.get(principalKey);
  if (!principal) throw MulliganError.unauthenticated("TOKEN_MISSING", "this call needs a token");
  return { principal, token: ctx.values.get(tokenKey) };
}

/** The principal of an authenticated call (what most handlers hand to the domain). */
export function principalOf(ctx: HandlerContext): Principal {
  return callerOf(ctx).principal;
}

/**
 * A part's gRPC contract served in-process: another part of the same process calls it through
 * a connect client over a router transport, exactly as it would over the network, as a fixed
 * service identity (not on behalf of a caller). Errors cross as they would on the wire.
 */
import type { DescService } from "@bufbuild/protobuf";
import {
  type Client,
  type ConnectRouter,
  createClient,
  createRouterTransport,
  type Interceptor,
} from "@connectrpc/connect";
import { toConnectError } from "./grpc-errors.js";
import { type Principal, principalKey } from "./principal.js";

/** A fleet-wide identity for one part's calls to another (never a token, never on the wire). */
export function servicePrincipal(part: string, accountUuid: string): Principal {
  return {
    accountUuid,
    accountName: `mulligan-${part}`,
    accountKind: "application",
    projectUuid: null,
    projectName: null,
    projectRoles: [],
    globalRoles: ["admin"],
    expiresAt: new Date(8_640_000_000_000_000),
  };
}

/** A client of `service` whose calls run the handlers `register` installs, as `principal`. */
export function inProcessClient<S extends DescService>(
  service: S,
  register: (router: ConnectRouter) => void,
  principal: Principal,
): Client<S> {
  const asService: Interceptor = (next) => async (req) => {
    req.contextValues.set(principalKey, principal);
    try {
      return await next(req);
    } catch (err) {
      throw toConnectError(err);
    }
  };
  const transport = createRouterTransport(register, { router: { interceptors: [asService] } });
  return createClient(service, transport);
}

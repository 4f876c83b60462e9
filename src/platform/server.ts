/**
 * The gRPC server of one process: HTTP/2 through `@grpc/grpc-js` (cleartext on loopback, TLS
 * elsewhere; decision 0011), every hosted service behind the observe → authenticate
 * interceptors, and a graceful shutdown that drains in-flight calls for a bounded time.
 */
import { readFileSync } from "node:fs";
import { type AddressInfo, createServer, type Server as NetServer, type Socket } from "node:net";
import { type ConnectRouter, createContextValues } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { registerConnectRoutes } from "./grpcjs-adapter.js";
import { authenticate, type LoggerFor, observe } from "./interceptors.js";
import type { Metrics } from "./metrics.js";
import { assertPolicyCovers, type PolicyTable } from "./policy.js";
import { peerAddressKey } from "./principal.js";
import type { HostedService } from "./service-module.js";
import type { TokenVerifier } from "./tokens.js";

export interface ServerOptions {
  host: string;
  port: number;
  tls?: { certFile: string; keyFile: string };
  /** Every service served, with its policy table (checked to cover every RPC). */
  services: readonly HostedService[];
  routes: (router: ConnectRouter) => void;
  verifier: TokenVerifier;
  /** The logger of each service's calls (see observe). */
  loggerFor: LoggerFor;
  metrics: Metrics;
}

/** Largest request accepted (4 MiB), so one call cannot exhaust memory. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/** HTTP/2 memory one connection may hold (MB): ten 1.4 MB answers in flight exceed the default 10. */
const SESSION_MEMORY_MB = 256;

export class GrpcServer {
  private constructor(
    private readonly server: grpc.Server,
    private readonly listener: NetServer,
    /** Every TCP connection, HTTP/2 or not yet: a half-open one would outlive the shutdown. */
    private readonly sockets: Set<Socket>,
    readonly host: string,
    readonly port: number,
    readonly secure: boolean,
  ) {}

  /** Base URL clients use, e.g. http://127.0.0.1:7443. */
  get url(): string {
    const host = this.host.includes(":") ? `[${this.host}]` : this.host;
    return `${this.secure ? "https" : "http"}://${host}:${this.port}`;
  }

  static async start(options: ServerOptions): Promise<GrpcServer> {
    const policies = new Map<string, PolicyTable>();
    for (const s of options.services) {
      assertPolicyCovers(s.desc, s.policy);
      policies.set(s.desc.typeName, s.policy);
    }
    // Responses go uncompressed (compressed requests are still accepted): gzip of a 1.4 MB
    // FindCandidates answer (limit 1,000) cost more server CPU than the search itself, far
    // more than sending it on a datacenter network.
    const server = new grpc.Server({
      "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
      "grpc.max_send_message_length": -1,
      "grpc-node.max_session_memory": SESSION_MEMORY_MB,
      // Mulligan serves no channelz: grpc-js's per-call bookkeeping for it is work for no one.
      "grpc.enable_channelz": 0,
    });
    const encoders = new Map<string, (message: unknown) => Uint8Array>();
    for (const s of options.services)
      for (const e of s.encoders ?? []) encoders.set(e.schema.typeName, e.encode);
    registerConnectRoutes(server, options.routes, {
      encoders,
      interceptors: [
        observe(options.loggerFor, options.metrics),
        authenticate(options.verifier, policies),
      ],
      contextValues: (peer) => createContextValues().set(peerAddressKey, peer),
    });
    const credentials = options.tls
      ? grpc.ServerCredentials.createSsl(
          null,
          [
            {
              cert_chain: readFileSync(options.tls.certFile),
              private_key: readFileSync(options.tls.keyFile),
            },
          ],
          false,
        )
      : grpc.ServerCredentials.createInsecure();
    // Mulligan owns the listening socket and hands each connection to grpc-js, so that
    // shutdown can close every connection, including ones that never became a session.
    const injector = server.createConnectionInjector(credentials);
    const sockets = new Set<Socket>();
    const listener = createServer({ noDelay: true }, (socket) => {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      injector.injectConnection(socket);
    });
    await new Promise<void>((resolve, reject) => {
      listener.once("error", reject);
      listener.listen(options.port, options.host, () => {
        listener.off("error", reject);
        resolve();
      });
    });
    const { port } = listener.address() as AddressInfo;
    return new GrpcServer(server, listener, sockets, options.host, port, options.tls !== undefined);
  }

  /**
   * Stops accepting connections and new calls (GOAWAY on every connection), lets in-flight
   * calls finish for up to `drainMs`, then cancels what is left.
   */
  async shutdown(drainMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.listener.close(() => resolve()));
    const drained = new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, drainMs);
    });
    await Promise.race([drained, deadline]);
    clearTimeout(timer);
    this.server.forceShutdown();
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}

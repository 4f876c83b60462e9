/**
 * The gRPC server of one process: HTTP/2 (cleartext on loopback, TLS elsewhere), every hosted
 * service behind the observe → authenticate interceptors, and a graceful shutdown that drains
 * in-flight calls without waiting on idle connections.
 */
import { readFileSync } from "node:fs";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { type ConnectRouter, createContextValues } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
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

export class GrpcServer {
  private readonly sessions = new Set<http2.Http2Session>();
  /** Every TCP connection, HTTP/2 or not yet: a half-open one would hold close() forever. */
  private readonly sockets = new Set<import("node:net").Socket>();

  private constructor(
    private readonly server: http2.Http2Server | http2.Http2SecureServer,
    readonly host: string,
    readonly port: number,
    readonly secure: boolean,
  ) {
    server.on("connection", (socket: import("node:net").Socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
    server.on("session", (s) => {
      this.sessions.add(s);
      s.on("close", () => this.sessions.delete(s));
    });
  }

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
    const handler = connectNodeAdapter({
      routes: options.routes,
      grpc: true,
      grpcWeb: false,
      connect: false,
      readMaxBytes: MAX_MESSAGE_BYTES,
      // Responses go uncompressed (compressed requests are still accepted): gzip of a
      // 1.4 MB FindCandidates answer (limit 1,000) cost more server CPU than the search itself,
      // far more than sending it on a datacenter network.
      compressMinBytes: Number.MAX_SAFE_INTEGER,
      interceptors: [
        observe(options.loggerFor, options.metrics),
        authenticate(options.verifier, policies),
      ],
      contextValues: (req) =>
        createContextValues().set(peerAddressKey, req.socket?.remoteAddress ?? ""),
    });
    const server = options.tls
      ? http2.createSecureServer(
          { cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile) },
          handler,
        )
      : http2.createServer(handler);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port, options.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    return new GrpcServer(server, options.host, address.port, options.tls !== undefined);
  }

  /**
   * Stops accepting connections, sends GOAWAY on every session so clients stop sending new
   * calls, lets in-flight calls finish for up to `drainMs`, then destroys what is left.
   */
  async shutdown(drainMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sessions) s.close();
    const deadline = new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        for (const s of this.sessions) s.destroy();
        resolve();
      }, drainMs);
      t.unref();
    });
    await Promise.race([closed, deadline]);
    for (const s of this.sessions) s.destroy();
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}

/**
 * The executor's bare-metal boot server (node:http): everything a node fetches while it is
 * provisioned, and the deploy agent's callback API, on one listener.
 *
 *   GET  /boot/boot.ipxe             the script a site's DHCP hands every node (chains by MAC)
 *   GET  /boot/ipxe?mac=<mac>        the node's script, from its boot plan (setNodeBoot)
 *   GET  /boot/agent/vmlinuz|initrd  the deploy agent (scripts/build-deploy-agent.sh)
 *   GET  /images/<sha256>            a published raw image (publishImage), Range supported
 *   POST /agent/v1/<node>/<event>    the agent's callbacks, `Authorization: Bearer <token>`
 *
 * Use from the conductor:
 *   const boot = await BootServer.start({ port: 8080, advertiseHost: "10.0.0.5", logger });
 *   const token = newAgentToken();
 *   const session = boot.expectAgent(nodeUuid, token);
 *   boot.setNodeBoot(node.macs, { kind: "agent", nodeUuid, token });
 *   // BMC: boot device pxe, power on
 *   await session.hello(300_000, signal);
 *   const hw = await session.inspect(60_000, signal);
 *   const url = boot.publishImage(raw.path, raw.sha256);
 *   await session.deploy({ url, sha256: raw.sha256, sizeBytes: raw.sizeBytes, disk: "vda" }, …);
 *   await session.poweroff(30_000, signal);
 *   session.close(); boot.setNodeBoot(node.macs, { kind: "local" });
 * A failed step throws AgentError {step, reason}. See docs/baremetal-ipxe.md for the DHCP side.
 *
 * Security: the callback answers 401 with one body for an unknown node, a closed session and a
 * wrong token alike; tokens are compared in constant time (hashes of equal length) and never
 * logged. Boot files are unauthenticated (PXE firmware cannot authenticate), so the per-node
 * script — which carries the token — belongs on a provisioning network, and a token is only
 * worth anything while its session is open.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Logger } from "pino";
import { AGENT_EVENTS, type AgentEvent } from "./agent-protocol.js";
import { type AgentReply, AgentSession } from "./agent-session.js";
import { sendFile } from "./file-response.js";
import { type BootPlan, chainScript, nodeScript, normalizeMac } from "./ipxe-scripts.js";

/** Options of BootServer.start; only the agent directory has no sensible default elsewhere. */
export interface BootServerOptions {
  /** Address to bind (default 127.0.0.1; 0.0.0.0 to serve a real provisioning network). */
  host?: string;
  /** Port to bind (default 0: any free port). */
  port?: number;
  /** The host nodes reach this server at (QEMU user networking: 10.0.2.2); default `host`. */
  advertiseHost?: string;
  /** Directory holding the agent's vmlinuz and initrd.img (default .cache/deploy-agent). */
  agentDir?: string;
  logger?: Logger;
}

/** Largest callback body accepted (an inventory of a big server is a few KiB). */
const MAX_BODY = 256 * 1024;

/** A fresh per-deployment agent token: 32 random bytes, base64url (kernel-cmdline safe). */
export function newAgentToken(): string {
  return randomBytes(32).toString("base64url");
}

const digest = (s: string) => createHash("sha256").update(s).digest();

export class BootServer {
  private readonly plans = new Map<string, BootPlan>();
  private readonly sessions = new Map<string, { session: AgentSession; tokenHash: Buffer }>();
  private readonly images = new Map<string, string>();

  private constructor(
    private readonly server: Server,
    /** The base URL nodes use, e.g. http://10.0.2.2:41233. */
    readonly publicUrl: string,
    /** The base URL on the bound address, for local clients and tests. */
    readonly localUrl: string,
    private readonly agentDir: string,
    private readonly logger: Logger | undefined,
  ) {}

  /** Binds the listener and resolves once it accepts connections. */
  static async start(options: BootServerOptions = {}): Promise<BootServer> {
    const host = options.host ?? "127.0.0.1";
    let self: BootServer | undefined;
    const server = createServer((req, res) => {
      self?.route(req, res).catch((error: unknown) => {
        options.logger?.error({ err: String(error), path: req.url?.split("?")[0] }, "boot server");
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 0, host, () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    const url = (h: string) => `http://${h.includes(":") ? `[${h}]` : h}:${port}`;
    self = new BootServer(
      server,
      url(options.advertiseHost ?? host),
      url(host === "0.0.0.0" ? "127.0.0.1" : host),
      options.agentDir ?? join(process.cwd(), ".cache", "deploy-agent"),
      options.logger,
    );
    return self;
  }

  /** Sets (or with `undefined` clears) what the nodes with these MACs boot next. */
  setNodeBoot(macs: string | string[], plan: BootPlan | undefined): void {
    for (const mac of typeof macs === "string" ? [macs] : macs) {
      const key = normalizeMac(mac);
      if (!key) throw new Error(`not a MAC address: ${mac}`);
      if (plan) this.plans.set(key, plan);
      else this.plans.delete(key);
    }
  }

  /**
   * Opens the callback channel for one node's agent, accepting only `token`; replaces a
   * previous session of the node (which fails with AGENT_ABORTED). Close it when done.
   */
  expectAgent(
    nodeUuid: string,
    token: string,
    onProgress?: (message: string) => void,
  ): AgentSession {
    this.sessions.get(nodeUuid)?.session.close();
    const session = new AgentSession(nodeUuid, onProgress, () => {
      if (this.sessions.get(nodeUuid)?.session === session) this.sessions.delete(nodeUuid);
    });
    this.sessions.set(nodeUuid, { session, tokenHash: digest(token) });
    return session;
  }

  /** Serves the raw image at `path` as /images/<sha256>; returns the URL nodes download. */
  publishImage(path: string, sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a SHA-256: ${sha256}`);
    this.images.set(sha256, path);
    return `${this.publicUrl}/images/${sha256}`;
  }

  /** Stops serving an image. */
  unpublishImage(sha256: string): void {
    this.images.delete(sha256);
  }

  /** Closes every session (AGENT_ABORTED) and the listener, dropping open connections. */
  async close(): Promise<void> {
    for (const { session } of [...this.sessions.values()]) session.close();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://boot");
    const path = url.pathname;
    const get = req.method === "GET" || req.method === "HEAD";
    if (path.startsWith("/agent/v1/") && req.method === "POST")
      return this.callback(req, res, path);
    if (!get) return text(res, 405, "method not allowed\n");
    this.logger?.debug({ path }, "boot server GET");
    if (path === "/boot/boot.ipxe") return text(res, 200, chainScript(this.publicUrl));
    if (path === "/boot/ipxe") {
      const mac = normalizeMac(url.searchParams.get("mac") ?? "");
      if (!mac) return text(res, 400, "#!ipxe\necho mulligan: bad or missing mac\nexit\n");
      return text(res, 200, nodeScript(this.plans.get(mac), this.publicUrl));
    }
    if (path === "/boot/agent/vmlinuz") return sendFile(req, res, join(this.agentDir, "vmlinuz"));
    if (path === "/boot/agent/initrd") return sendFile(req, res, join(this.agentDir, "initrd.img"));
    const image = path.match(/^\/images\/([0-9a-f]{64})$/);
    const file = image ? this.images.get(image[1] as string) : undefined;
    if (file) return sendFile(req, res, file);
    return text(res, 404, "not found\n");
  }

  private async callback(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const [, , , nodeUuid = "", event = "", extra] = path.split("/");
    const entry = this.sessions.get(nodeUuid);
    const auth = req.headers.authorization ?? "";
    const presented = auth.startsWith("Bearer ") ? auth.slice(7) : "";
    // Hash first so that the comparison is constant-time whatever the token's length.
    const ok = entry !== undefined && timingSafeEqual(digest(presented), entry.tokenHash);
    if (!ok || extra !== undefined) {
      req.resume();
      this.logger?.warn({ node: nodeUuid.slice(0, 64), event }, "agent callback refused");
      return json(res, 401, { error: "unauthorized" });
    }
    if (!(AGENT_EVENTS as readonly string[]).includes(event)) {
      req.resume();
      return json(res, 404, { error: "unknown event" });
    }
    const body = await readJson(req);
    if (body === undefined) return json(res, 400, { error: "body is not a JSON object" });
    this.logger?.debug({ node: nodeUuid, event }, "agent callback");
    const gone = new AbortController();
    res.on("close", () => gone.abort());
    const reply: AgentReply = await entry.session.handle(event as AgentEvent, body, gone.signal);
    if (reply.body) json(res, reply.status, reply.body);
    else res.writeHead(reply.status).end();
  }
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    "content-type": "text/plain",
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const body = `${JSON.stringify(value)}\n`;
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}

/** The request body as a JSON object, or undefined if it is too big or not an object. */
async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) return undefined;
    chunks.push(chunk as Buffer);
  }
  const raw = Buffer.concat(chunks).toString("utf8").trim();
  if (raw === "") return {};
  try {
    const value: unknown = JSON.parse(raw);
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

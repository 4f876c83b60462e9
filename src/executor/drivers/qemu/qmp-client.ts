/**
 * A small client of QEMU's machine protocol (QMP) over a unix socket: one JSON object per
 * line, a greeting, `qmp_capabilities` to leave negotiation mode, then commands answered in
 * order (matched here by `id`) interleaved with asynchronous events.
 */
import { connect, type Socket } from "node:net";

/** How long connecting and each command may take unless the caller says otherwise. */
export const QMP_TIMEOUT_MS = 3_000;

/** An asynchronous QMP event, e.g. SHUTDOWN, STOP, RESUME, RESET. */
export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
}

/** A command QEMU refused, or a connection that failed; `qmpClass` is QMP's error class. */
export class QmpError extends Error {
  constructor(
    readonly qmpClass: string,
    message: string,
  ) {
    super(message);
    this.name = "QmpError";
  }
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export class QmpClient {
  private buffer = "";
  private nextId = 1;
  private closed = false;
  private readonly pending = new Map<string, Pending>();
  private readonly eventListeners = new Set<(e: QmpEvent) => void>();
  private readonly closeListeners = new Set<() => void>();

  private constructor(private readonly socket: Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => this.receive(chunk));
    socket.on("error", () => socket.destroy());
    socket.on("close", () => this.closedByPeer());
  }

  /** Connects to `socketPath` and negotiates capabilities; fails within `timeoutMs`. */
  static async connect(socketPath: string, timeoutMs = QMP_TIMEOUT_MS): Promise<QmpClient> {
    const socket = connect(socketPath);
    const greeting = new Promise<QmpClient>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new QmpError("Timeout", `no QMP greeting on ${socketPath} in ${timeoutMs} ms`));
      }, timeoutMs);
      let seen = "";
      const onData = (chunk: Buffer) => {
        seen += chunk.toString("utf8");
        const end = seen.indexOf("\n");
        if (end < 0) return;
        clearTimeout(timer);
        socket.off("data", onData);
        socket.off("error", onError);
        const client = new QmpClient(socket);
        client.receive(seen.slice(end + 1));
        resolve(client);
      };
      const onError = (error: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new QmpError("ConnectFailed", `QMP ${socketPath}: ${error.message}`));
      };
      socket.on("data", onData);
      socket.once("error", onError);
    });
    const client = await greeting;
    try {
      await client.execute("qmp_capabilities", undefined, timeoutMs);
    } catch (error) {
      client.close();
      throw error;
    }
    return client;
  }

  /** Runs one command and resolves with its `return` value. */
  execute<T = unknown>(
    command: string,
    args?: Record<string, unknown>,
    timeoutMs = QMP_TIMEOUT_MS,
  ): Promise<T> {
    if (this.closed) return Promise.reject(new QmpError("Closed", "QMP connection is closed"));
    const id = String(this.nextId++);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpError("Timeout", `QMP ${command} got no answer in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      const message = args ? { execute: command, arguments: args, id } : { execute: command, id };
      this.socket.write(`${JSON.stringify(message)}\n`);
    });
  }

  /** Calls `listener` for every event; returns the function that stops it. */
  onEvent(listener: (e: QmpEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  /** Calls `listener` once the connection is gone (QEMU exited or `close` was called). */
  onClose(listener: () => void): void {
    if (this.closed) listener();
    else this.closeListeners.add(listener);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Closes the connection; QEMU keeps running. */
  close(): void {
    this.socket.destroy();
    this.closedByPeer();
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    for (let end = this.buffer.indexOf("\n"); end >= 0; end = this.buffer.indexOf("\n")) {
      const line = this.buffer.slice(0, end).trim();
      this.buffer = this.buffer.slice(end + 1);
      if (line !== "") this.dispatch(line);
    }
  }

  private dispatch(line: string): void {
    let message: {
      id?: string;
      return?: unknown;
      error?: { class: string; desc: string };
      event?: string;
      data?: Record<string, unknown>;
    };
    try {
      message = JSON.parse(line);
    } catch {
      return; // QMP speaks JSON only; a torn line cannot be answered anyway
    }
    if (message.event !== undefined) {
      const event: QmpEvent = { event: message.event };
      if (message.data) event.data = message.data;
      for (const listener of this.eventListeners) listener(event);
      return;
    }
    const pending = message.id === undefined ? undefined : this.pending.get(message.id);
    if (!pending || message.id === undefined) return;
    this.pending.delete(message.id);
    clearTimeout(pending.timer);
    if (message.error) pending.reject(new QmpError(message.error.class, message.error.desc));
    else pending.resolve(message.return);
  }

  private closedByPeer(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new QmpError("Closed", "QMP connection closed"));
    }
    this.pending.clear();
    for (const listener of this.closeListeners) listener();
    this.closeListeners.clear();
  }
}

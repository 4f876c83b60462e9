/**
 * The executor's side of one deploy agent's conversation: the conductor awaits the agent's
 * hello, then runs one command at a time and gets its typed result, or an AgentError naming
 * the step and a stable reason. Commands reach the agent as answers to its POSTs (hello, poll,
 * results, answered at once); an idle agent long-polls, so a queued command goes out at once. Nothing waits
 * forever: every await has a deadline and honours an abort signal.
 */
import {
  type AgentCommand,
  type AgentDeployResult,
  type AgentEraseResult,
  AgentError,
  type AgentEvent,
  type AgentHello,
  type AgentInventory,
  parseInventory,
} from "./agent-protocol.js";

/** An answer to the agent's HTTP request: a status and an optional JSON body. */
export interface AgentReply {
  status: number;
  body?: Record<string, unknown>;
}

/** How long an idle agent's poll is held open before it is told to "wait" and poll again. */
export const LONG_POLL_MS = 15_000;

interface Outstanding {
  id: number;
  command: AgentCommand;
  delivered: boolean;
  settle: (event: "done" | "failed", body: Record<string, unknown>) => void;
}

export class AgentSession {
  private seq = 0;
  private helloInfo: AgentHello | undefined;
  private readonly helloWaiters = new Set<(hello: AgentHello) => void>();
  private current: Outstanding | undefined;
  private poller: ((command: Record<string, unknown>) => void) | undefined;
  private closed = false;
  /** When the agent last called back (ms since epoch); 0 before its hello. */
  lastSeen = 0;

  constructor(
    readonly nodeUuid: string,
    /** Called with the agent's progress messages during a long command. */
    private readonly onProgress: (message: string) => void = () => {},
    private readonly onClose: () => void = () => {},
  ) {}

  /** Resolves with the agent's hello (at once if it already said hello). */
  hello(timeoutMs: number, signal?: AbortSignal): Promise<AgentHello> {
    if (this.helloInfo) return Promise.resolve(this.helloInfo);
    let waiter: (hello: AgentHello) => void = () => {};
    const said = new Promise<AgentHello>((resolve) => {
      waiter = resolve;
      this.helloWaiters.add(resolve);
    });
    return deadline(said, "hello", timeoutMs, signal, () => this.helloWaiters.delete(waiter));
  }

  /** Runs "inspect" and returns the node's hardware. */
  async inspect(timeoutMs: number, signal?: AbortSignal): Promise<AgentInventory> {
    const body = await this.run({ command: "inspect" }, timeoutMs, signal);
    const inventory = parseInventory(body);
    if (typeof inventory === "string")
      throw new AgentError("inspect", "AGENT_PROTOCOL_ERROR", `bad inventory: ${inventory}`);
    return inventory;
  }

  /**
   * Erases the named disks: every block discarded where the device supports it, the first
   * and last 64 MiB zeroed (all of a disk under 128 MiB), both ends verified as zeros.
   */
  async erase(disks: string[], timeoutMs: number, signal?: AbortSignal): Promise<AgentEraseResult> {
    const body = await this.run({ command: "erase", disks }, timeoutMs, signal);
    return { disks: strings(body.disks), seconds: num(body.seconds) };
  }

  /** Writes a raw image and returns the SHA-256 the agent read back from the disk. */
  async deploy(
    image: { url: string; sha256: string; sizeBytes: number; disk: string },
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<AgentDeployResult> {
    const command: AgentCommand = {
      command: "deploy",
      image_url: image.url,
      sha256: image.sha256,
      size_bytes: image.sizeBytes,
      disk: image.disk,
    };
    const body = await this.run(command, timeoutMs, signal);
    const sha256 = typeof body.sha256 === "string" ? body.sha256 : "";
    // The agent compares too; checking again here means a buggy agent cannot report success.
    if (sha256 !== image.sha256)
      throw new AgentError(
        "deploy",
        "IMAGE_CHECKSUM_MISMATCH",
        `disk ${image.disk} reads back as ${sha256 || "(none)"}, expected ${image.sha256}`,
      );
    return {
      disk: image.disk,
      sha256,
      size_bytes: num(body.size_bytes),
      seconds: num(body.seconds),
    };
  }

  /** Tells the agent to power the node off; resolves once it acknowledged. */
  async poweroff(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    await this.run({ command: "poweroff" }, timeoutMs, signal);
  }

  /** Sends one command and resolves with the agent's raw result body. */
  run(
    command: AgentCommand,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Record<string, unknown>> {
    const step = command.command;
    if (this.closed) return Promise.reject(new AgentError(step, "AGENT_ABORTED", "session closed"));
    if (this.current) throw new Error(`agent ${this.nodeUuid} is busy with ${this.current.id}`);
    let outstanding: Outstanding | undefined;
    const result = new Promise<Record<string, unknown>>((resolve, reject) => {
      outstanding = {
        id: ++this.seq,
        command,
        delivered: false,
        settle: (event, body) =>
          event === "done" ? resolve(body) : reject(AgentError.fromReport(step, body)),
      };
    });
    const mine = outstanding as Outstanding;
    this.current = mine;
    this.deliverIfPolling();
    return deadline(result, step, timeoutMs, signal, () => {
      if (this.current === mine) this.current = undefined;
    }).finally(() => {
      if (this.current === mine) this.current = undefined;
    });
  }

  /** Ends the session: pending waits fail with AGENT_ABORTED and the agent's token stops working. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.current) this.finish("failed", { reason: "AGENT_ABORTED", message: "session closed" });
    this.poller?.({ command: "wait" });
    this.onClose();
  }

  /** Handles one authenticated POST from the agent; `gone` fires if its connection drops. */
  async handle(
    event: AgentEvent,
    body: Record<string, unknown>,
    gone: AbortSignal,
  ): Promise<AgentReply> {
    this.lastSeen = Date.now();
    switch (event) {
      case "hello": {
        const restarted = this.current?.delivered === true;
        this.helloInfo = { version: typeof body.version === "string" ? body.version : "" };
        for (const w of this.helloWaiters) w(this.helloInfo);
        this.helloWaiters.clear();
        if (restarted && this.current)
          this.finish("failed", {
            reason: "AGENT_FAILED",
            message: `the agent restarted during ${this.current.command.command}`,
          });
        break;
      }
      case "progress":
        if (this.current && body.id === this.current.id && typeof body.message === "string")
          this.onProgress(body.message);
        return { status: 200, body: {} };
      case "inventory":
      case "done":
      case "failed":
        if (this.current && body.id === this.current.id)
          this.finish(event === "failed" ? "failed" : "done", body);
        break;
      case "poll":
        return { status: 200, body: await this.nextCommand(gone) };
    }
    // A hello or a result is answered at once, so an agent about to power off is not held.
    return { status: 200, body: this.takeCommand() ?? { command: "wait" } };
  }

  /** Settles the outstanding command now, so it is never handed out again. */
  private finish(event: "done" | "failed", body: Record<string, unknown>): void {
    const current = this.current;
    this.current = undefined;
    current?.settle(event, body);
  }

  /** The outstanding command, marked delivered (again, if the agent lost it). */
  private takeCommand(): Record<string, unknown> | undefined {
    if (this.closed || !this.current) return undefined;
    this.current.delivered = true;
    return { ...this.current.command, id: this.current.id };
  }

  /** The outstanding command, or a poll held until one is queued or LONG_POLL_MS passes. */
  private nextCommand(gone: AbortSignal): Promise<Record<string, unknown>> {
    const command = this.takeCommand();
    if (command || this.closed) return Promise.resolve(command ?? { command: "wait" });
    this.poller?.({ command: "wait" });
    return new Promise((resolve) => {
      const finish = (command: Record<string, unknown>) => {
        clearTimeout(timer);
        gone.removeEventListener("abort", dropped);
        if (this.poller === finish) this.poller = undefined;
        resolve(command);
      };
      const dropped = () => finish({ command: "wait" });
      const timer = setTimeout(dropped, LONG_POLL_MS);
      gone.addEventListener("abort", dropped, { once: true });
      this.poller = finish;
    });
  }

  private deliverIfPolling(): void {
    const command = this.poller && this.takeCommand();
    if (command) this.poller?.(command);
  }
}

/** Races `work` against a timeout and an abort signal; `cleanup` runs when either wins. */
function deadline<T>(
  work: Promise<T>,
  step: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  cleanup: () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const fail = (error: AgentError) => {
      finish();
      cleanup();
      reject(error);
    };
    const onAbort = () => fail(new AgentError(step, "AGENT_ABORTED", `${step} aborted`));
    const timer = setTimeout(
      () => fail(new AgentError(step, "AGENT_TIMEOUT", `no answer to ${step} in ${timeoutMs} ms`)),
      timeoutMs,
    );
    const finish = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        finish();
        resolve(value);
      },
      (error: unknown) => {
        finish();
        reject(error);
      },
    );
  });
}

const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : 0);
const strings = (v: unknown) =>
  Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : [];

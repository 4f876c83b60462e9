/**
 * What a service part (iam, meta, …) hands to the process that hosts it: its gRPC services with
 * their policy tables, and a function that registers the handlers. The host (src/host) decides
 * which parts run in this process and wires their dependencies; a part never imports another
 * part's internals, only the interfaces in this folder.
 */
import type { DescMessage, DescService } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { Store } from "../store/store.js";
import type { PolicyTable } from "./policy.js";

/** The parts of Mulligan, by the names used in `--services`. */
export const PARTS = ["iam", "meta", "resource", "control"] as const;
export type Part = (typeof PARTS)[number];

export interface HostedService {
  desc: DescService;
  policy: PolicyTable;
  /** Faster encoders for some of its responses (each must give `toBinary`'s bytes). */
  encoders?: readonly MessageEncoder[];
}

/** Encodes messages of one schema to the bytes `toBinary` would give, faster. */
export interface MessageEncoder {
  schema: DescMessage;
  encode(message: unknown): Uint8Array;
}

export interface ServiceModule {
  readonly part: Part;
  readonly services: readonly HostedService[];
  /** Builds in-memory state (the resource part's fleet index) before the part serves. */
  start?(): Promise<void>;
  /** Registers every handler of every service of this part. */
  register(router: ConnectRouter): void;
  /** Stops background work (timers); the host closes the store afterwards. */
  close?(): Promise<void>;
}

/** What every part gets from its host. */
export interface ServiceDeps {
  store: Store;
  /** This part's own logger (child of the process logger); Configure changes its level. */
  logger: Logger;
}

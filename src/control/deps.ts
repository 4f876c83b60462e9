/**
 * What the control domain works with, wired once by module.ts: the store, the directories of
 * other parts, the resource engine (placement.ts), a wake-up signal, and its settings.
 */
import type { Logger } from "pino";
import type { ProjectDirectory, RegionDirectory } from "../platform/directory.js";
import type { Principal } from "../platform/principal.js";
import { seesFleet } from "../platform/principal.js";
import { idempotencyKey } from "../store/request-log.js";
import type { Store } from "../store/store.js";
import type { CredentialBox } from "./node-credentials.js";
import type { NodeProviders } from "./node-provider.js";
import type { Placement } from "./placement.js";
import type { Signal } from "./signal.js";

/** Tunables with their defaults compiled in one place. */
export interface ControlSettings {
  /** Build attempts per machine (hosts tried) before it goes ERROR. */
  maxAttempts: number;
  /** How long a leased task stays with its executor without a report. */
  leaseMs: number;
  /**
   * A task that no executor has leased or renewed for this long (ready, or its lease lapsed)
   * has failed: its executor is gone. A task whose lease is live never fails by this.
   */
  taskDeadlineMs: number;
  /** How long a scheduler holds a machine in SCHEDULING before another may take it. */
  scheduleHoldMs: number;
  /**
   * An idle node whose power was not checked for this long gets a power sync (a SYNC_POWER
   * task: its conductor reads the power through the BMC; node-power-sync.ts).
   */
  powerSyncIntervalMs: number;
  /** Power syncs that may fail in a row before the node is put in maintenance. */
  powerSyncMaxFailures: number;
}

export const DEFAULT_CONTROL_SETTINGS: ControlSettings = {
  maxAttempts: 3,
  leaseMs: 30_000,
  taskDeadlineMs: 10 * 60_000,
  scheduleHoldMs: 30_000,
  powerSyncIntervalMs: 5 * 60_000,
  powerSyncMaxFailures: 3,
};

export interface ControlDeps {
  store: Store;
  logger: Logger;
  projects: ProjectDirectory;
  regions: RegionDirectory;
  placement: Placement;
  /** Bare-metal nodes as providers in the resource engine. */
  nodeProviders: NodeProviders;
  /** Seals and opens BMC passwords (decision 0009). */
  credentials: CredentialBox;
  /** Wakes the scheduler, lease waiters and watchers of this process after a commit. */
  changed: Signal;
  settings: ControlSettings;
}

/** The projects whose machines and images a principal sees; null for the whole fleet. */
export function visibleProjects(p: Principal): readonly string[] | null {
  if (seesFleet(p)) return null;
  return p.projectUuid ? [p.projectUuid] : [];
}

/** The request-log key of a control mutation. */
export function requestKey(method: string, p: Principal, input: { requestId?: string }) {
  return idempotencyKey("control_requests", method, p.accountUuid, input);
}

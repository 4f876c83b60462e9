/**
 * The control part's tables (Kysely declarations). Only src/control/repo.ts touches them. Times
 * are ISO-8601 text and structured fields JSON text, so one schema serves SQLite and PostgreSQL.
 */
import type { RequestLogTable } from "../store/request-log.js";

/** What an executor account can own: a host (by provider UUID) or a conductor group (by name). */
export type OwnedScope = "host" | "conductor_group";

export interface ControlTables {
  control_machines: {
    uuid: string;
    name: string;
    /** The name while the machine is not DELETED, its UUID after: names are unique among live machines. */
    live_name: string;
    project_uuid: string;
    project_name: string;
    /** The account that asked for the machine (the consumer's user). */
    owner_uuid: string;
    region_uuid: string;
    region_name: string;
    kind: string;
    state: string;
    failed_step: string;
    reason: string;
    message: string;
    image_uuid: string;
    image_name: string;
    host_uuid: string;
    host_name: string;
    /** JSON: the MachineSpec as given (groups as proto JSON). */
    spec: string;
    /** JSON: the allocations held ({provider_uuid, provider_name, resources}[]). */
    allocations: string;
    /** JSON: Attempt[] */
    attempts: string;
    /** The scheduler holding the machine in SCHEDULING holds it until then. */
    schedule_until: string;
    /** Sequence of the last event. */
    event_seq: number;
    /** The guest's power as its executor last observed it ("" before the first report). */
    power_state: string;
    /** When the executor observed it (ISO-8601; "" before the first report). */
    power_state_at: string;
    created_at: string;
    updated_at: string;
  };
  control_machine_events: {
    machine_uuid: string;
    seq: number;
    at: string;
    state: string;
    step: string;
    message: string;
    reason: string;
  };
  control_images: {
    uuid: string;
    name: string;
    /** '' for a fleet image. */
    project_uuid: string;
    /** JSON: {kind:"disk",source,format,sha256} | {kind:"kernel",kernel,kernelSha256,initrd,initrdSha256,cmdline} */
    source: string;
    boot_marker: string;
    created_at: string;
  };
  control_tasks: {
    uuid: string;
    machine_uuid: string;
    kind: string;
    host_uuid: string;
    /** ready | leased | done | failed | cancelled */
    state: string;
    /** JSON payload (the guest spec of a build). */
    payload: string;
    lease_token: string;
    lease_until: string;
    deliveries: number;
    created_at: string;
    updated_at: string;
    /** The bare-metal node a node task acts on ('' for VM tasks). */
    node_uuid: string;
  };
  control_nodes: {
    uuid: string;
    name: string;
    region_uuid: string;
    region_name: string;
    state: string;
    target_state: string;
    failed_state: string;
    /** JSON: {step, reason, message} | null */
    last_error: string;
    power_state: string;
    target_power_state: string;
    /**
     * When the node's power was last checked: a node task (step or power sync) ended, or a
     * power sync was queued. The next sync is due a sync interval after it.
     */
    power_checked_at: string;
    /** Power syncs that failed in a row (reset by any power read). */
    power_sync_failures: number;
    /** 0 | 1 */
    maintenance: number;
    maintenance_reason: string;
    /** JSON: NodeInventory | null */
    inventory: string;
    resource_class: string;
    /** JSON: BmcInfo (no password) */
    bmc: string;
    /** The BMC password sealed with AES-256-GCM (node-credentials.ts). */
    bmc_secret: string;
    /** JSON: string[] */
    boot_macs: string;
    /** JSON: Record<string, string> */
    properties: string;
    conductor_group: string;
    machine_uuid: string;
    message: string;
    created_at: string;
    updated_at: string;
  };
  /** The executor account that runs each host's or conductor group's tasks (host-owners.ts). */
  control_executor_owners: {
    kind: OwnedScope;
    /** The host's provider UUID, or the conductor group's name. */
    scope: string;
    account_uuid: string;
    created_at: string;
  };
  control_consoles: {
    machine_uuid: string;
    text: string;
    captured_at: string;
  };
  control_requests: RequestLogTable;
}

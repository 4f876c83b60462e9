/**
 * Forward-only migrations of the control part (text and integer columns only). Collected by
 * src/store/migrate.ts.
 */
import { type Kysely, type Migration, sql } from "kysely";
import { createRequestLogTable } from "../store/request-log.js";

/** The control part's migrations by name; names sort in application order. */
export const controlMigrations: Record<string, Migration> = {
  "2026_12_02_004_control": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("control_machines")
        .addColumn("uuid", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("live_name", "text", (c) => c.notNull())
        .addColumn("project_uuid", "text", (c) => c.notNull())
        .addColumn("project_name", "text", (c) => c.notNull())
        .addColumn("owner_uuid", "text", (c) => c.notNull())
        .addColumn("region_uuid", "text", (c) => c.notNull())
        .addColumn("region_name", "text", (c) => c.notNull())
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("state", "text", (c) => c.notNull())
        .addColumn("failed_step", "text", (c) => c.notNull())
        .addColumn("reason", "text", (c) => c.notNull())
        .addColumn("message", "text", (c) => c.notNull())
        .addColumn("image_uuid", "text", (c) => c.notNull())
        .addColumn("image_name", "text", (c) => c.notNull())
        .addColumn("host_uuid", "text", (c) => c.notNull())
        .addColumn("host_name", "text", (c) => c.notNull())
        .addColumn("spec", "text", (c) => c.notNull())
        .addColumn("allocations", "text", (c) => c.notNull())
        .addColumn("attempts", "text", (c) => c.notNull())
        .addColumn("schedule_until", "text", (c) => c.notNull())
        .addColumn("event_seq", "integer", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .addColumn("updated_at", "text", (c) => c.notNull())
        .addUniqueConstraint("control_machines_name_unique", ["project_uuid", "live_name"])
        .execute();
      await db.schema
        .createIndex("control_machines_state")
        .on("control_machines")
        .columns(["state", "schedule_until"])
        .execute();
      await db.schema
        .createTable("control_machine_events")
        .addColumn("machine_uuid", "text", (c) => c.notNull())
        .addColumn("seq", "integer", (c) => c.notNull())
        .addColumn("at", "text", (c) => c.notNull())
        .addColumn("state", "text", (c) => c.notNull())
        .addColumn("step", "text", (c) => c.notNull())
        .addColumn("message", "text", (c) => c.notNull())
        .addColumn("reason", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("control_machine_events_pk", ["machine_uuid", "seq"])
        .execute();
      await db.schema
        .createTable("control_images")
        .addColumn("uuid", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("project_uuid", "text", (c) => c.notNull())
        .addColumn("source", "text", (c) => c.notNull())
        .addColumn("boot_marker", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .addUniqueConstraint("control_images_name_unique", ["project_uuid", "name"])
        .execute();
      await db.schema
        .createTable("control_tasks")
        .addColumn("uuid", "text", (c) => c.primaryKey())
        .addColumn("machine_uuid", "text", (c) => c.notNull())
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("host_uuid", "text", (c) => c.notNull())
        .addColumn("state", "text", (c) => c.notNull())
        .addColumn("payload", "text", (c) => c.notNull())
        .addColumn("lease_token", "text", (c) => c.notNull())
        .addColumn("lease_until", "text", (c) => c.notNull())
        .addColumn("deliveries", "integer", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .addColumn("updated_at", "text", (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex("control_tasks_host")
        .on("control_tasks")
        .columns(["host_uuid", "state", "created_at"])
        .execute();
      await db.schema
        .createIndex("control_tasks_machine")
        .on("control_tasks")
        .columns(["machine_uuid", "state"])
        .execute();
      await db.schema
        .createTable("control_consoles")
        .addColumn("machine_uuid", "text", (c) => c.primaryKey())
        .addColumn("text", "text", (c) => c.notNull())
        .addColumn("captured_at", "text", (c) => c.notNull())
        .execute();
      await createRequestLogTable(db, "control_requests");
    },
  },
  "2026_12_03_005_control_nodes": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("control_nodes")
        .addColumn("uuid", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull().unique())
        .addColumn("region_uuid", "text", (c) => c.notNull())
        .addColumn("region_name", "text", (c) => c.notNull())
        .addColumn("state", "text", (c) => c.notNull())
        .addColumn("target_state", "text", (c) => c.notNull())
        .addColumn("failed_state", "text", (c) => c.notNull())
        .addColumn("last_error", "text", (c) => c.notNull())
        .addColumn("power_state", "text", (c) => c.notNull())
        .addColumn("target_power_state", "text", (c) => c.notNull())
        .addColumn("maintenance", "integer", (c) => c.notNull())
        .addColumn("maintenance_reason", "text", (c) => c.notNull())
        .addColumn("inventory", "text", (c) => c.notNull())
        .addColumn("resource_class", "text", (c) => c.notNull())
        .addColumn("bmc", "text", (c) => c.notNull())
        .addColumn("bmc_secret", "text", (c) => c.notNull())
        .addColumn("boot_macs", "text", (c) => c.notNull())
        .addColumn("properties", "text", (c) => c.notNull())
        .addColumn("conductor_group", "text", (c) => c.notNull())
        .addColumn("machine_uuid", "text", (c) => c.notNull())
        .addColumn("message", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .addColumn("updated_at", "text", (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex("control_nodes_group")
        .on("control_nodes")
        .columns(["conductor_group"])
        .execute();
      await db.schema
        .alterTable("control_tasks")
        .addColumn("node_uuid", "text", (c) => c.notNull().defaultTo(""))
        .execute();
    },
  },
  "2026_12_03_006_control_host_owners": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("control_host_owners")
        .addColumn("host_uuid", "text", (c) => c.primaryKey())
        .addColumn("account_uuid", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .execute();
    },
  },
  "2026_12_03_007_control_machine_power": {
    async up(db: Kysely<unknown>) {
      for (const column of ["power_state", "power_state_at"])
        await db.schema
          .alterTable("control_machines")
          .addColumn(column, "text", (c) => c.notNull().defaultTo(""))
          .execute();
    },
  },
  // Hosts and conductor groups are both owned by one executor account (host-owners.ts).
  "2026_12_03_008_control_executor_owners": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("control_executor_owners")
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("scope", "text", (c) => c.notNull())
        .addColumn("account_uuid", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("control_executor_owners_pk", ["kind", "scope"])
        .execute();
      await sql`insert into control_executor_owners (kind, scope, account_uuid, created_at)
        select 'host', host_uuid, account_uuid, created_at from control_host_owners`.execute(db);
      await db.schema.dropTable("control_host_owners").execute();
    },
  },
  // The periodic power sync of idle nodes (node-power-sync.ts): when the node's power was last
  // checked, and how many syncs in a row failed. Existing nodes are due at once.
  "2026_12_03_009_control_node_power_sync": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable("control_nodes")
        .addColumn("power_checked_at", "text", (c) => c.notNull().defaultTo(""))
        .execute();
      await db.schema
        .alterTable("control_nodes")
        .addColumn("power_sync_failures", "integer", (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .createIndex("control_nodes_power_checked")
        .on("control_nodes")
        .columns(["power_checked_at"])
        .execute();
    },
  },
};

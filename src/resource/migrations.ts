/**
 * Forward-only migrations of the resource part (portable: text, bigint, double precision).
 * Amounts are bigint: inventories of bytes or bandwidth exceed 32 bits.
 */
import { type Kysely, type Migration, PostgresAdapter, sql } from "kysely";
import { createRequestLogTable } from "../store/request-log.js";

/** The resource part's migrations by name; names sort in application order. */
export const resourceMigrations: Record<string, Migration> = {
  "2026_11_22_003_resource": {
    async up(db: Kysely<unknown>) {
      const s = db.schema;
      await s
        .createTable("resource_classes")
        .addColumn("name", "text", (c) => c.primaryKey())
        .addColumn("created_at", "text", (c) => c.notNull())
        .execute();
      await s
        .createTable("resource_capabilities")
        .addColumn("name", "text", (c) => c.primaryKey())
        .addColumn("created_at", "text", (c) => c.notNull())
        .execute();
      await s
        .createTable("resource_providers")
        .addColumn("uuid", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull().unique())
        .addColumn("region_uuid", "text", (c) => c.notNull())
        .addColumn("parent_uuid", "text", (c) => c.notNull())
        .addColumn("root_uuid", "text", (c) => c.notNull())
        .addColumn("generation", "bigint", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .addColumn("updated_at", "text", (c) => c.notNull())
        .execute();
      await s
        .createIndex("resource_providers_parent")
        .on("resource_providers")
        .column("parent_uuid")
        .execute();
      await s
        .createIndex("resource_providers_root")
        .on("resource_providers")
        .column("root_uuid")
        .execute();
      await s
        .createTable("resource_inventories")
        .addColumn("provider_uuid", "text", (c) => c.notNull())
        .addColumn("resource_class", "text", (c) => c.notNull())
        .addColumn("total", "bigint", (c) => c.notNull())
        .addColumn("reserved", "bigint", (c) => c.notNull())
        .addColumn("min_unit", "bigint", (c) => c.notNull())
        .addColumn("max_unit", "bigint", (c) => c.notNull())
        .addColumn("step_size", "bigint", (c) => c.notNull())
        .addColumn("allocation_ratio", "double precision", (c) => c.notNull())
        .addPrimaryKeyConstraint("resource_inventories_pk", ["provider_uuid", "resource_class"])
        .execute();
      await s
        .createIndex("resource_inventories_class")
        .on("resource_inventories")
        .column("resource_class")
        .execute();
      await s
        .createTable("resource_provider_capabilities")
        .addColumn("provider_uuid", "text", (c) => c.notNull())
        .addColumn("capability", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("resource_provider_capabilities_pk", [
          "provider_uuid",
          "capability",
        ])
        .execute();
      await s
        .createIndex("resource_provider_capabilities_name")
        .on("resource_provider_capabilities")
        .column("capability")
        .execute();
      await s
        .createTable("resource_groups")
        .addColumn("uuid", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull().unique())
        .addColumn("level", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .execute();
      await s
        .createTable("resource_provider_groups")
        .addColumn("provider_uuid", "text", (c) => c.notNull())
        .addColumn("group_uuid", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("resource_provider_groups_pk", ["provider_uuid", "group_uuid"])
        .execute();
      await s
        .createIndex("resource_provider_groups_group")
        .on("resource_provider_groups")
        .column("group_uuid")
        .execute();
      await s
        .createTable("resource_consumers")
        .addColumn("uuid", "text", (c) => c.primaryKey())
        .addColumn("project_uuid", "text", (c) => c.notNull())
        .addColumn("user_uuid", "text", (c) => c.notNull())
        .addColumn("consumer_type", "text", (c) => c.notNull())
        .addColumn("generation", "bigint", (c) => c.notNull())
        .addColumn("window_start", "text", (c) => c.notNull())
        .addColumn("window_end", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .addColumn("updated_at", "text", (c) => c.notNull())
        .execute();
      await s
        .createIndex("resource_consumers_project")
        .on("resource_consumers")
        .column("project_uuid")
        .execute();
      await s
        .createTable("resource_allocations")
        .addColumn("consumer_uuid", "text", (c) => c.notNull())
        .addColumn("provider_uuid", "text", (c) => c.notNull())
        .addColumn("resource_class", "text", (c) => c.notNull())
        .addColumn("amount", "bigint", (c) => c.notNull())
        .addColumn("window_start", "text", (c) => c.notNull())
        .addColumn("window_end", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("resource_allocations_pk", [
          "consumer_uuid",
          "provider_uuid",
          "resource_class",
        ])
        .execute();
      await s
        .createIndex("resource_allocations_provider")
        .on("resource_allocations")
        .columns(["provider_uuid", "resource_class"])
        .execute();
      await s
        .createTable("resource_quotas")
        .addColumn("project_uuid", "text", (c) => c.notNull())
        .addColumn("resource_class", "text", (c) => c.notNull())
        .addColumn("quota_limit", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("resource_quotas_pk", ["project_uuid", "resource_class"])
        .execute();
      await s
        .createTable("resource_changes")
        .addColumn("seq", "integer", (c) => c.primaryKey())
        .addColumn("provider_uuid", "text", (c) => c.notNull())
        .addColumn("change", "text", (c) => c.notNull())
        .addColumn("at", "text", (c) => c.notNull())
        .execute();
      await createRequestLogTable(db, "resource_requests");
    },
  },
  /**
   * The change log as a feed read by every process's index. SQLite numbers rows itself
   * (INTEGER PRIMARY KEY; one writer, so numbers follow commit order). PostgreSQL takes numbers
   * from a sequence (no conflicts between concurrent claims) and records each row's transaction
   * id, so readers take only rows older than every running transaction (see repo/changes.ts).
   */
  "2026_11_22_004_resource_feed": {
    async up(db: Kysely<unknown>) {
      if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
      await sql`ALTER TABLE resource_changes ALTER COLUMN seq TYPE bigint`.execute(db);
      await sql`CREATE SEQUENCE resource_changes_seq OWNED BY resource_changes.seq`.execute(db);
      await sql`SELECT setval('resource_changes_seq', COALESCE((SELECT max(seq) FROM resource_changes), 0) + 1, false)`.execute(
        db,
      );
      await sql`ALTER TABLE resource_changes ALTER COLUMN seq SET DEFAULT nextval('resource_changes_seq')`.execute(
        db,
      );
      await sql`ALTER TABLE resource_changes ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id()`.execute(
        db,
      );
      await sql`CREATE INDEX resource_changes_txid ON resource_changes (txid, seq)`.execute(db);
    },
  },
};

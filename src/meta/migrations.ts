/**
 * Forward-only migrations of the meta part, portable to SQLite and PostgreSQL (text columns
 * only, JSON as text). Collected by src/store/migrate.ts.
 */
import type { Kysely, Migration } from "kysely";
import { createRequestLogTable } from "../store/request-log.js";

/** The meta part's migrations by name; names sort in application order. */
export const metaMigrations: Record<string, Migration> = {
  "2026_11_22_002_meta": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("meta_objects")
        .addColumn("uuid", "text", (c) => c.primaryKey())
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("slug", "text", (c) => c.notNull())
        .addColumn("project_uuid", "text", (c) => c.notNull())
        .addColumn("region_uuid", "text", (c) => c.references("meta_objects.uuid"))
        .addColumn("properties", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .addColumn("updated_at", "text", (c) => c.notNull())
        .addUniqueConstraint("meta_objects_name_unique", ["kind", "project_uuid", "name"])
        .addUniqueConstraint("meta_objects_slug_unique", ["kind", "project_uuid", "slug"])
        .execute();
      await db.schema
        .createIndex("meta_objects_name")
        .on("meta_objects")
        .columns(["name", "uuid"])
        .execute();
      await db.schema
        .createIndex("meta_objects_project")
        .on("meta_objects")
        .columns(["project_uuid", "name"])
        .execute();
      await db.schema
        .createIndex("meta_objects_region")
        .on("meta_objects")
        .column("region_uuid")
        .execute();
      await db.schema
        .createTable("meta_regions")
        .addColumn("uuid", "text", (c) =>
          c.primaryKey().references("meta_objects.uuid").onDelete("cascade"),
        )
        .addColumn("parent_uuid", "text", (c) => c.references("meta_regions.uuid"))
        .addColumn("description", "text", (c) => c.notNull())
        .addColumn("visibility", "text", (c) => c.notNull())
        .addColumn("failure_power", "text", (c) => c.notNull())
        .addColumn("failure_network", "text", (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex("meta_regions_parent")
        .on("meta_regions")
        .column("parent_uuid")
        .execute();
      await db.schema
        .createTable("meta_tags")
        .addColumn("object_uuid", "text", (c) =>
          c.notNull().references("meta_objects.uuid").onDelete("cascade"),
        )
        .addColumn("tag", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("meta_tags_pk", ["object_uuid", "tag"])
        .execute();
      await db.schema.createIndex("meta_tags_tag").on("meta_tags").column("tag").execute();
      await db.schema
        .createTable("meta_property_definitions")
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("key", "text", (c) => c.notNull())
        .addColumn("schema", "text", (c) => c.notNull())
        .addColumn("description", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .addColumn("updated_at", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("meta_property_definitions_pk", ["kind", "key"])
        .execute();
      await db.schema
        .createTable("meta_object_properties")
        .addColumn("object_uuid", "text", (c) =>
          c.notNull().references("meta_objects.uuid").onDelete("cascade"),
        )
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("key", "text", (c) => c.notNull())
        .addColumn("value", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("meta_object_properties_pk", ["object_uuid", "key"])
        .execute();
      await db.schema
        .createIndex("meta_object_properties_value")
        .on("meta_object_properties")
        .columns(["kind", "key", "value"])
        .execute();
      await db.schema
        .createIndex("meta_object_properties_key")
        .on("meta_object_properties")
        .columns(["key", "value"])
        .execute();
      await createRequestLogTable(db, "meta_requests");
    },
  },
};

/**
 * Forward-only migrations of the iam part, portable to SQLite and PostgreSQL (text and integer
 * columns only). Collected by src/store/migrate.ts.
 */
import type { Kysely, Migration } from "kysely";
import { createRequestLogTable } from "../store/request-log.js";

/** The iam part's migrations by name; names sort in application order. */
export const iamMigrations: Record<string, Migration> = {
  "2026_11_22_001_iam": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("iam_accounts")
        .addColumn("uuid", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull().unique())
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("description", "text", (c) => c.notNull())
        .addColumn("disabled", "integer", (c) => c.notNull())
        .addColumn("secret_hash", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .addColumn("updated_at", "text", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("iam_projects")
        .addColumn("uuid", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull().unique())
        .addColumn("parent_uuid", "text", (c) => c.references("iam_projects.uuid"))
        .addColumn("description", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .addColumn("updated_at", "text", (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex("iam_projects_parent")
        .on("iam_projects")
        .column("parent_uuid")
        .execute();
      await db.schema
        .createTable("iam_role_bindings")
        .addColumn("uuid", "text", (c) => c.primaryKey())
        .addColumn("account_uuid", "text", (c) =>
          c.notNull().references("iam_accounts.uuid").onDelete("cascade"),
        )
        .addColumn("project_uuid", "text", (c) => c.notNull())
        .addColumn("role", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .addUniqueConstraint("iam_role_bindings_unique", ["account_uuid", "project_uuid", "role"])
        .execute();
      await db.schema
        .createIndex("iam_role_bindings_project")
        .on("iam_role_bindings")
        .columns(["project_uuid", "role"])
        .execute();
      await db.schema
        .createTable("iam_signing_keys")
        .addColumn("kid", "text", (c) => c.primaryKey())
        .addColumn("private_jwk", "text", (c) => c.notNull())
        .addColumn("public_jwk", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .addColumn("retired_at", "text")
        .execute();
      await createRequestLogTable(db, "iam_requests");
    },
  },
};

/**
 * Forward-only migrations, run by every process at start. Kysely's migrator takes a lock
 * (a Postgres advisory lock; SQLite's single writer), so replicas starting together apply each
 * migration once. Names sort in application order: a date, a sequence, the owning part.
 */
import { type Kysely, type Migration, Migrator, sql } from "kysely";
import { controlMigrations } from "../control/migrations.js";
import { iamMigrations } from "../iam/migrations.js";
import { metaMigrations } from "../meta/migrations.js";
import { resourceMigrations } from "../resource/migrations.js";
import type { Store } from "./store.js";

const platformMigrations: Record<string, Migration> = {
  "2026_11_22_000_platform": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("platform_endpoints")
        .addColumn("service", "text", (c) => c.notNull())
        .addColumn("url", "text", (c) => c.notNull())
        .addColumn("instance_id", "text", (c) => c.notNull())
        .addColumn("heartbeat_at", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("platform_endpoints_pk", ["service", "instance_id"])
        .execute();
    },
  },
};

/** Every migration of every part, by name. */
export function allMigrations(): Record<string, Migration> {
  return {
    ...platformMigrations,
    ...iamMigrations,
    ...metaMigrations,
    ...resourceMigrations,
    ...controlMigrations,
  };
}

/** Applies pending migrations; throws with the failing migration's name. */
export async function migrate(store: Store): Promise<string[]> {
  const migrator = new Migrator({
    db: store.db,
    provider: { getMigrations: async () => allMigrations() },
    migrationTableName: "platform_migrations",
    migrationLockTableName: "platform_migrations_lock",
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === "Error")?.migrationName ?? "?";
    throw new Error(`migration ${failed} failed: ${(error as Error).message ?? error}`);
  }
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}

/** Used by tests: true if a table exists. */
export async function tableExists(store: Store, name: string): Promise<boolean> {
  const tables = await store.db.introspection.getTables();
  void sql;
  return tables.some((t) => t.name === name);
}

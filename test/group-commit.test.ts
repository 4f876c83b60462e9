/**
 * Group commit (src/store/group-commit.ts) on both stores: transactions that arrive together
 * share one database transaction, yet each is answered on its own — one that throws leaves no
 * trace and the others commit. On PostgreSQL a batch waits at most its lock timeout for a row
 * another session holds, then runs again (a deadlock between replicas' batches ends that way
 * instead of after PostgreSQL's one-second deadlock check).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sql } from "kysely";
import pg from "pg";
import { migratedStore, STORE_KINDS } from "./harness.js";

const AT = "2026-12-03T00:00:00.000Z";

function row(id: string) {
  return {
    request_id: id,
    account_uuid: "acct",
    method: "Test",
    request_hash: "h",
    response: "null",
    created_at: AT,
  };
}

for (const kind of STORE_KINDS) {
  describe(`group commit [${kind}]`, () => {
    const stores = migratedStore(kind);

    it("answers each transaction of a batch on its own: those that throw leave no trace", async () => {
      const ids = Array.from({ length: 10 }, (_, i) => `batch-${i}`);
      const outcomes = await Promise.allSettled(
        ids.map((id, i) =>
          stores().store.transaction(async (tx) => {
            await tx.insertInto("resource_requests").values(row(id)).execute();
            if (i === 4 || i === 7) throw new Error(`unit ${i} refuses`);
            return id;
          }),
        ),
      );
      assert.deepEqual(
        outcomes.map((o) => (o.status === "fulfilled" ? o.value : (o.reason as Error).message)),
        ids.map((id, i) => (i === 4 || i === 7 ? `unit ${i} refuses` : id)),
      );
      const stored = await stores()
        .base.db.selectFrom("resource_requests")
        .select("request_id")
        .where("request_id", "like", "batch-%")
        .orderBy("request_id")
        .execute();
      assert.deepEqual(
        stored.map((r) => r.request_id),
        ids.filter((_, i) => i !== 4 && i !== 7),
      );
    });

    if (kind === "postgres")
      it("waits at most its lock timeout for a row another session holds, then runs again", async () => {
        await stores().base.db.insertInto("resource_requests").values(row("locked")).execute();
        let timeout = "";
        const { url } = stores();
        const other = new pg.Client({ connectionString: url });
        await other.connect();
        try {
          await other.query("BEGIN");
          await other.query(
            "UPDATE resource_requests SET response = 'other' WHERE request_id = 'locked'",
          );
          let attempts = 0;
          const waiting = stores().store.transaction(async (tx) => {
            attempts++;
            timeout = (await sql<{ lock_timeout: string }>`SHOW lock_timeout`.execute(tx)).rows[0]
              ?.lock_timeout as string;
            await tx
              .updateTable("resource_requests")
              .set({ response: "mine" })
              .where("request_id", "=", "locked")
              .execute();
            return attempts;
          });
          // Held for several lock timeouts: the transaction is refused and retried meanwhile.
          await new Promise((r) => setTimeout(r, 200));
          await other.query("COMMIT");
          const ran = await waiting;
          assert.equal(timeout, "50ms");
          assert.ok(
            ran > 1,
            `ran ${ran} time(s): the lock wait should have timed out at least once`,
          );
        } finally {
          await other.end();
        }
        const final = await stores()
          .base.db.selectFrom("resource_requests")
          .select("response")
          .where("request_id", "=", "locked")
          .executeTakeFirstOrThrow();
        assert.equal(final.response, "mine");
      });
  });
}

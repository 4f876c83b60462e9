/**
 * The provider change feed on PostgreSQL (src/resource/repo/changes.ts), where numbers are
 * handed out before commit: a reader must not lose a row that commits after a higher-numbered
 * one, and must not wait for transactions that have nothing to do with it.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { appendChanges, feedAfter, feedStart } from "../src/resource/repo/changes.js";
import { migrate } from "../src/store/migrate.js";
import { openStore, type Store } from "../src/store/store.js";
import { type FreshStore, freshStore, PG_ADMIN_URL } from "./harness.js";

const AT = "2026-12-03T00:00:00.000Z";

describe("the change feed on PostgreSQL", () => {
  let fresh: FreshStore | undefined;
  let store: Store;

  before(async () => {
    fresh = await freshStore("postgres");
    store = await openStore(fresh.url);
    await migrate(store);
  });
  after(async () => {
    await store?.close();
    await fresh?.drop();
  });

  /** Runs `append` in a transaction held open until the returned `commit` is called. */
  async function openTransaction(provider: string) {
    let commit!: () => void;
    const held = new Promise<void>((resolve) => {
      commit = resolve;
    });
    let appended!: () => void;
    const written = new Promise<void>((resolve) => {
      appended = resolve;
    });
    const done = store.transaction(async (tx) => {
      await appendChanges(store, tx, [provider], "created", AT);
      appended();
      await held;
    });
    await written;
    return {
      commit: async () => {
        commit();
        await done;
      },
    };
  }

  const append = (provider: string) =>
    store.transaction((tx) => appendChanges(store, tx, [provider], "created", AT));

  test("a row numbered first but committed last is still read, once it commits", async () => {
    let cursor = await feedStart(store, store.db);
    const slow = await openTransaction("slow");
    await append("fast");
    const first = await feedAfter(store, store.db, cursor, 100);
    assert.deepEqual(
      first.rows.map((r) => r.provider_uuid),
      ["fast"],
      "the committed row is read at once, without waiting for the older transaction",
    );
    cursor = first.cursor;
    await slow.commit();
    const second = await feedAfter(store, store.db, cursor, 100);
    assert.deepEqual(
      second.rows.map((r) => r.provider_uuid),
      ["slow"],
      "the late row, numbered below the cursor, is read after its commit",
    );
    assert.ok(
      second.rows[0] && first.rows[0] && second.rows[0].seq < first.rows[0].seq,
      "the late row really was numbered first",
    );
    const again = await feedAfter(store, store.db, second.cursor, 100);
    assert.deepEqual(again.rows, [], "nothing is read twice once the transactions ended");
  });

  test("a long transaction in another database delays nothing", async () => {
    const other = new pg.Client({ connectionString: PG_ADMIN_URL });
    await other.connect();
    try {
      await other.query("BEGIN");
      await other.query("SELECT pg_current_xact_id()");
      const cursor = await feedStart(store, store.db);
      await append("while-another-runs");
      const batch = await feedAfter(store, store.db, cursor, 100);
      assert.deepEqual(
        batch.rows.map((r) => r.provider_uuid),
        ["while-another-runs"],
      );
    } finally {
      await other.query("ROLLBACK").catch(() => {});
      await other.end();
    }
  });

  test("a full batch says so, and the next read goes on from it", async () => {
    let cursor = await feedStart(store, store.db);
    for (const p of ["b1", "b2", "b3", "b4", "b5"]) await append(p);
    const seen: string[] = [];
    for (let rounds = 0; rounds < 10; rounds++) {
      const batch = await feedAfter(store, store.db, cursor, 2);
      seen.push(...batch.rows.map((r) => r.provider_uuid));
      cursor = batch.cursor;
      if (!batch.more) break;
    }
    assert.deepEqual(seen, ["b1", "b2", "b3", "b4", "b5"]);
  });
});

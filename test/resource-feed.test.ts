/**
 * The provider change feed on PostgreSQL (src/resource/repo/changes.ts), where numbers are
 * handed out before commit: a reader must not lose a row that commits after a higher-numbered
 * one, and must not wait for transactions that have nothing to do with it. On both stores, the
 * fleet index skips in the feed the rows its own process's commits applied, and only those.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import pino from "pino";
import { newUuid } from "../src/platform/ids.js";
import { FleetIndex } from "../src/resource/fleet-index.js";
import { appendChanges, feedAfter, feedStart } from "../src/resource/repo/changes.js";
import { notifyingStore } from "../src/resource/watch.js";
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

for (const kind of ["sqlite", "postgres"] as const)
  describe(`the fleet index and its own commits [${kind}]`, () => {
    let fresh: FreshStore | undefined;
    let store: Store;
    let index: FleetIndex;
    let own: Store;

    before(async () => {
      fresh = await freshStore(kind);
      store = await openStore(fresh.url);
      await migrate(store);
      index = new FleetIndex({ store, logger: pino({ level: "silent" }) });
      await index.start();
      // What module.ts wires: this process's commits refresh the index with what they appended.
      own = notifyingStore(store, (appended, known) =>
        index.refresh(appended.changes, appended.added, known ? appended.seqs : []),
      );
    });
    after(async () => {
      await index?.close();
      await store?.close();
      await fresh?.drop();
    });

    test("the feed skips the rows a commit of this process applied, not another's", async () => {
      await own.transaction((tx) => appendChanges(own, tx, [newUuid()], "usage", AT));
      const before = index.rounds;
      // A poll reads that row: it was applied by the commit's own refresh.
      await index.follow();
      assert.equal(index.rounds, before, "the index re-read a provider its own commit applied");
      // Another writer (not through this process's store): the poll must re-read.
      await store.transaction((tx) => appendChanges(store, tx, [newUuid()], "usage", AT));
      await index.follow();
      assert.equal(index.rounds, before + 1, "the index skipped another writer's change");
      // A failed transaction's numbers are never counted as applied.
      await assert.rejects(
        own.transaction(async (tx) => {
          await appendChanges(own, tx, [newUuid()], "usage", AT);
          throw new Error("rolled back");
        }),
        /rolled back/,
      );
      const after = index.rounds;
      await store.transaction((tx) => appendChanges(store, tx, [newUuid()], "usage", AT));
      await index.follow();
      assert.equal(index.rounds, after + 1, "a rolled-back number hid a later change");
    });
  });

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
import { newUuid, nowIso } from "../src/platform/ids.js";
import { FleetIndex } from "../src/resource/fleet-index.js";
import { appendChanges, feedAfter, feedStart, pruneChanges } from "../src/resource/repo/changes.js";
import { notifyingStore } from "../src/resource/watch.js";
import { migrate } from "../src/store/migrate.js";
import { openStore, type Store } from "../src/store/store.js";
import { bareProviderRow, type FreshStore, freshStore, PG_ADMIN_URL } from "./harness.js";

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

    test("pruning keeps the newest change; a reader behind what it deleted is told", async () => {
      const start = await feedStart(store, store.db);
      // Three changes written "long ago" (AT is days old: past the retention).
      await store.transaction((tx) =>
        appendChanges(store, tx, [newUuid(), newUuid()], "usage", AT),
      );
      await store.transaction((tx) => appendChanges(store, tx, [newUuid()], "usage", AT));
      const read = await feedAfter(store, store.db, start, 100);
      assert.equal(read.rows.length, 3);
      assert.equal(read.truncated, false);
      assert.ok((await pruneChanges(store)) >= 2, "the two older changes are deleted");
      const newest = read.rows[2]?.seq;
      const left = await store.db.selectFrom("resource_changes").select("seq").execute();
      assert.deepEqual(
        left.map((r) => Number(r.seq)),
        [newest],
        "the newest change is kept",
      );
      const current = await feedAfter(store, store.db, read.cursor, 100);
      assert.deepEqual([current.rows.length, current.truncated], [0, false]);
      const behind = await feedAfter(store, store.db, start, 100);
      assert.equal(behind.truncated, true, "a reader behind the pruned changes was not told");
      // A recent change is never pruned.
      await store.transaction((tx) => appendChanges(store, tx, [newUuid()], "usage", nowIso()));
      assert.equal(
        await pruneChanges(store),
        1,
        "only the old newest goes once a newer one exists",
      );
      assert.equal((await feedAfter(store, store.db, read.cursor, 100)).truncated, false);
    });

    test("an index that fell behind the pruned log reads the whole fleet again", async () => {
      const follower = new FleetIndex({ store, logger: pino({ level: "silent" }) });
      await follower.start();
      try {
        // A provider created while the follower does not read the feed; its change is pruned
        // (a later change is kept), so the feed alone never tells the follower about it.
        const uuid = newUuid();
        await store.transaction(async (tx) => {
          await tx
            .insertInto("resource_providers")
            .values(bareProviderRow(uuid, `behind-${uuid}`, AT))
            .execute();
          await appendChanges(store, tx, [uuid], "created", AT);
        });
        await store.transaction((tx) => appendChanges(store, tx, [newUuid()], "usage", AT));
        assert.ok((await pruneChanges(store)) >= 1);
        await follower.follow();
        assert.ok(
          follower.providers.has(uuid),
          "the follower missed a provider the pruned log held",
        );
      } finally {
        await follower.close();
      }
    });

    test("the feed skips the rows a commit of this process applied, not another's", async () => {
      await index.follow(); // catch up with what the tests before wrote and pruned
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

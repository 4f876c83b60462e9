/**
 * Cross-process wake-ups (Store.listen / notify) on PostgreSQL: a listener hears every store's
 * notifications, and with othersOnly only those another store (another pool, as another process
 * would be) sent — the fleet index applies its own commits as they commit and reads the feed
 * only for other replicas' (src/resource/fleet-index.ts).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { openStore, type Store } from "../src/store/store.js";
import { type FreshStore, freshStore } from "./harness.js";

/** Resolves with true once `heard` counts up to `n`, false if it has not after `ms`. */
async function within(heard: () => number, n: number, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(10))
    if (heard() >= n) return true;
  return heard() >= n;
}

describe("store signals [postgres]", () => {
  let fresh: FreshStore | undefined;
  let mine: Store;
  let other: Store;
  before(async () => {
    fresh = await freshStore("postgres");
    mine = await openStore(fresh.url);
    other = await openStore(fresh.url);
  });
  after(async () => {
    await mine?.close();
    await other?.close();
    await fresh?.drop();
  });

  it("othersOnly hears another store's notifications, not its own store's", async () => {
    let all = 0;
    let others = 0;
    const stopAll = await mine.listen("test_signals", () => all++);
    const stopOthers = await mine.listen("test_signals", () => others++, { othersOnly: true });
    try {
      await mine.notify("test_signals");
      assert.ok(await within(() => all, 1, 5000), "the plain listener hears its own store");
      await sleep(300);
      assert.equal(others, 0, "othersOnly ignores its own store's notification");
      await other.notify("test_signals");
      assert.ok(await within(() => others, 1, 5000), "othersOnly hears another store");
      assert.ok(await within(() => all, 2, 5000), "and so does the plain listener");
    } finally {
      await stopAll();
      await stopOthers();
    }
  });
});

/**
 * The claim lane (src/resource/claim-lane.ts) on both stores: claims submitted together are
 * decided in one batch — each against the others' usage and the claims accepted before it —
 * and each is answered on its own: one that no longer fits gets CAPACITY_EXCEEDED and leaves
 * no row, a twin by request_id runs once, a retry answers from its record, an existing consumer
 * is a conflict, and a project's quota is checked in the batch like capacity (its limit holds).
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import type { Principal } from "../src/platform/principal.js";
import type { ClaimResult, ClaimWrite } from "../src/resource/allocations.js";
import { claimLane } from "../src/resource/claim-lane.js";
import { idempotencyKey } from "../src/store/request-log.js";
import { bareProviderRow, migratedStore, STORE_KINDS } from "./harness.js";

const AT = "2026-12-06T00:00:00.000Z";
const PROJECT = "p-open";
const LIMITED = "p-limited";

const principal: Principal = {
  accountUuid: "acct-1",
  accountName: "tester",
  accountKind: "user",
  projectUuid: PROJECT,
  projectName: "open",
  projectRoles: ["member"],
  globalRoles: [],
  expiresAt: new Date(Date.now() + 3600_000),
} as Principal;

let seq = 0;

/** A claim of `vcpu` on one host for a new consumer (its own, unless given). */
function write(host: string, vcpu: number, opts: { consumer?: string; project?: string } = {}) {
  const consumer = opts.consumer ?? `c-${++seq}`;
  const w: ClaimWrite = {
    consumer,
    expectedGeneration: null,
    projectUuid: opts.project ?? PROJECT,
    userUuid: null,
    consumerType: "TEST",
    window: { start: AT, end: null },
    allocations: new Map([[host, { VCPU: vcpu }]]),
    fields: new Map(),
  };
  return w;
}

type Answer = ClaimResult & { tag: string };

for (const kind of STORE_KINDS) {
  describe(`claim lane [${kind}]`, () => {
    const stores = migratedStore(kind);
    before(async () => {
      for (const [uuid, total] of [
        ["h1", 4],
        ["h2", 4],
        ["h3", 100],
      ] as const) {
        await stores()
          .base.db.insertInto("resource_providers")
          .values(bareProviderRow(uuid, `host-${uuid}`, AT))
          .execute();
        await stores()
          .base.db.insertInto("resource_inventories")
          .values({
            provider_uuid: uuid,
            resource_class: "VCPU",
            total,
            reserved: 0,
            min_unit: 1,
            max_unit: total,
            step_size: 1,
            allocation_ratio: 1,
          })
          .execute();
      }
      await stores()
        .base.db.insertInto("resource_quotas")
        .values({ project_uuid: LIMITED, resource_class: "VCPU", quota_limit: 3 })
        .execute();
    });

    /** Submits every claim in the same turn (one batch); each answer or error reason. */
    async function together(
      claims: { w: ClaimWrite; requestId?: string; tag: string }[],
    ): Promise<string[]> {
      const lane = claimLane(stores().store);
      const settled = await Promise.allSettled(
        claims.map(({ w, requestId, tag }) =>
          lane.submit<Answer>(
            {
              principal,
              key: idempotencyKey("resource_requests", "Test", principal.accountUuid, {
                requestId,
                asks: [...w.allocations],
              } as { requestId?: string }),
              write: w,
            },
            (r) => ({ ...r, tag }),
          ),
        ),
      );
      return settled.map((s) =>
        s.status === "fulfilled"
          ? `${s.value.tag}:${s.value.consumer?.uuid}:${s.value.allocations[0]?.providerName}`
          : `error:${(s.reason as { reason?: string }).reason ?? (s.reason as Error).message}`,
      );
    }

    const used = async (host: string) =>
      Number(
        (
          await stores()
            .base.db.selectFrom("resource_allocations")
            .select((eb) => eb.fn.sum<number>("amount").as("n"))
            .where("provider_uuid", "=", host)
            .executeTakeFirst()
        )?.n ?? 0,
      );
    const generation = async (host: string) =>
      (
        await stores()
          .base.db.selectFrom("resource_providers")
          .select("generation")
          .where("uuid", "=", host)
          .executeTakeFirstOrThrow()
      ).generation;

    it("decides each claim against the ones accepted before it in the batch", async () => {
      const a = write("h1", 3);
      const b = write("h1", 2); // 3 + 2 > 4: refused, nothing of it stays
      const c = write("h1", 1);
      const d = write("h2", 4);
      const out = await together([
        { w: a, tag: "a" },
        { w: b, tag: "b" },
        { w: c, tag: "c" },
        { w: d, tag: "d" },
      ]);
      assert.deepEqual(out, [
        `a:${a.consumer}:host-h1`,
        "error:CAPACITY_EXCEEDED",
        `c:${c.consumer}:host-h1`,
        `d:${d.consumer}:host-h2`,
      ]);
      assert.equal(await used("h1"), 4);
      assert.equal(await used("h2"), 4);
      const consumers = await stores()
        .base.db.selectFrom("resource_consumers")
        .select("uuid")
        .where("uuid", "in", [a.consumer, b.consumer, c.consumer, d.consumer])
        .execute();
      assert.deepEqual(
        consumers.map((r) => r.uuid).sort(),
        [a.consumer, c.consumer, d.consumer].sort(),
      );
      const changes = await stores()
        .base.db.selectFrom("resource_changes")
        .select("provider_uuid")
        .where("change", "=", "usage")
        .execute();
      assert.deepEqual([...new Set(changes.map((r) => r.provider_uuid))].sort(), ["h1", "h2"]);
    });

    it("runs twins by request_id once, answers a retry from its record, releases a failed id", async () => {
      const g3 = await generation("h3");
      const first = write("h3", 1);
      const twin = write("h3", 1, { consumer: first.consumer });
      const refused = write("h3", 1000); // beyond max_unit: refused
      const out = await together([
        { w: first, requestId: "req-1", tag: "first" },
        { w: twin, requestId: "req-1", tag: "twin" },
        { w: refused, requestId: "req-2", tag: "refused" },
      ]);
      assert.deepEqual(out, [
        `first:${first.consumer}:host-h3`,
        // The twin waited for the next batch and got the first one's recorded answer.
        `first:${first.consumer}:host-h3`,
        "error:UNIT_CONSTRAINT",
      ]);
      assert.equal(await used("h3"), 1);
      assert.equal(await generation("h3"), g3 + 1, "one written claim, one generation");
      // A retry later answers from the record, even with a different consumer in the write.
      const retry = write("h3", 1);
      assert.deepEqual(await together([{ w: retry, requestId: "req-1", tag: "retry" }]), [
        `first:${first.consumer}:host-h3`,
      ]);
      // The refused request's id was released: it runs again (and is refused again, not answered).
      const fixed = write("h3", 1000);
      assert.deepEqual(
        await together([{ w: fixed, requestId: "req-2", tag: "again" }]),
        ["error:UNIT_CONSTRAINT"],
        "same request, same refusal: nothing was recorded for it",
      );
      const logged = await stores()
        .base.db.selectFrom("resource_requests")
        .select("request_id")
        .where("request_id", "in", ["req-1", "req-2"])
        .execute();
      assert.deepEqual(
        logged.map((r) => r.request_id),
        ["req-1"],
      );
      assert.equal(await used("h3"), 1);
    });

    it("refuses an existing consumer and a second claim of one consumer in the batch", async () => {
      const existing = write("h3", 1);
      await together([{ w: existing, tag: "existing" }]);
      const dup = write("h3", 1, { consumer: existing.consumer });
      const fresh1 = write("h3", 1);
      const fresh2 = write("h3", 1, { consumer: fresh1.consumer });
      const before = await used("h3");
      const out = await together([
        { w: dup, tag: "dup" },
        { w: fresh1, tag: "fresh1" },
        { w: fresh2, tag: "fresh2" },
      ]);
      assert.deepEqual(out, [
        "error:CONSUMER_GENERATION_CONFLICT",
        `fresh1:${fresh1.consumer}:host-h3`,
        "error:CONSUMER_GENERATION_CONFLICT",
      ]);
      assert.equal(await used("h3"), before + 1);
    });

    it("checks a project's quota in the batch, each claim against the ones accepted before it", async () => {
      const limitedUsage = async () =>
        Number(
          (
            await stores()
              .base.db.selectFrom("resource_allocations as a")
              .innerJoin("resource_consumers as c", "c.uuid", "a.consumer_uuid")
              .select((eb) => eb.fn.sum<number>("a.amount").as("n"))
              .where("c.project_uuid", "=", LIMITED)
              .executeTakeFirst()
          )?.n ?? 0,
        );
      assert.equal(await used("h1"), 4, "h1 is full (the first test)");
      const g3 = await generation("h3");
      const out = await together([
        // Refused for capacity: it takes nothing of the quota.
        { w: write("h1", 1, { project: LIMITED }), tag: "full" },
        ...Array.from({ length: 5 }, (_, i) => ({
          w: write("h3", 1, { project: LIMITED }),
          tag: `q${i}`,
        })),
        { w: write("h3", 1), tag: "open" },
      ]);
      assert.deepEqual(
        out.map((o) => o.replace(/:c-\d+:host-h3$/, "")),
        [
          "error:CAPACITY_EXCEEDED",
          "q0",
          "q1",
          "q2",
          "error:QUOTA_EXCEEDED",
          "error:QUOTA_EXCEEDED",
          "open",
        ],
      );
      assert.equal(await limitedUsage(), 3);
      assert.equal(await generation("h3"), g3 + 1, "one batch wrote them all");
      // The next batch counts what is stored.
      assert.deepEqual(await together([{ w: write("h3", 1, { project: LIMITED }), tag: "more" }]), [
        "error:QUOTA_EXCEEDED",
      ]);
      assert.equal(await limitedUsage(), 3);
    });
  });
}

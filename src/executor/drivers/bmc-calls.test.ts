import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { resolveBmcOptions, serialized, waitForPower, withRetries } from "./bmc-calls.js";
import { BmcError, type PowerState } from "./bmc-driver.js";

test("calls to one BMC run one at a time, in order, even after a failure", async () => {
  const log: string[] = [];
  const call = (name: string, ms: number, fail = false) =>
    serialized("ipmi://10.0.0.1:623", async () => {
      log.push(`start ${name}`);
      await sleep(ms);
      log.push(`end ${name}`);
      if (fail) throw new Error(name);
    });
  const results = await Promise.allSettled([call("a", 30, true), call("b", 5), call("c", 1)]);
  assert.equal(results[0].status, "rejected");
  assert.deepEqual(log, ["start a", "end a", "start b", "end b", "start c", "end c"]);
});

test("transient failures are retried with backoff up to the limit; a refused login is not", async () => {
  const options = resolveBmcOptions({ retries: 2, backoffMs: 5 });
  let attempts = 0;
  await assert.rejects(
    withRetries(options, "x", async () => {
      attempts++;
      throw new BmcError("BMC_UNREACHABLE", "no answer");
    }),
    /no answer/,
  );
  assert.equal(attempts, 3);
  attempts = 0;
  await assert.rejects(
    withRetries(options, "x", async () => {
      attempts++;
      throw new BmcError("AUTH_FAILED", "refused");
    }),
  );
  assert.equal(attempts, 1);
  attempts = 0;
  const value = await withRetries(options, "x", async () => {
    if (++attempts < 2) throw new BmcError("BMC_TIMEOUT", "slow");
    return "ok";
  });
  assert.deepEqual([value, attempts], ["ok", 2]);
});

test("waiting for a power state polls until it reads back, or gives up at the deadline", async () => {
  let reads = 0;
  const turnsOn = async (): Promise<PowerState> => (++reads >= 3 ? "on" : "off");
  assert.equal(await waitForPower(turnsOn, "on", 1_000, 5), true);
  assert.equal(reads, 3);
  const started = Date.now();
  assert.equal(await waitForPower(async () => "off", "on", 120, 50), false);
  assert.ok(Date.now() - started >= 120, "it waits the whole timeout");
});

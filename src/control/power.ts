/**
 * Guest power as executors observe it. A VM guest can stop by itself (a `poweroff` inside it, a
 * crashed hypervisor); its executor reports that, and the machine records the observed power
 * and an event. The lifecycle state does not follow (no machine operations after activation):
 * the field and the event only make the change visible. Reports are ordered by the executor's
 * observation time, so a late retry never overwrites a newer observation.
 */
import { MulliganError } from "../platform/errors.js";
import { nowIso } from "../platform/ids.js";
import type { Principal } from "../platform/principal.js";
import { idempotent } from "../store/request-log.js";
import { RetryTransaction } from "../store/store.js";
import { type ControlDeps, requestKey } from "./deps.js";
import { mayRunOn } from "./host-owners.js";
import type { GuestPower } from "./model.js";
import * as repo from "./repo.js";

/** A decoded ReportPowerState request. */
export interface PowerReportInput {
  requestId?: string;
  hostUuid: string;
  machineUuid: string;
  power: Exclude<GuestPower, "">;
  /** When the executor observed it ("" for now). */
  observedAt: string;
}

/** The sentence each observed power leaves in the machine's events. */
const POWER_MESSAGES: Readonly<Record<PowerReportInput["power"], string>> = {
  RUNNING: "power: running — the guest runs",
  STOPPED: "power: stopped — the guest powered off by itself",
  ABSENT: "power: absent — nothing of the guest is left on its host",
};

/**
 * Records a guest's observed power on its machine. Another executor account's host, or a
 * machine not on the reported host, answers NOT_FOUND like a machine that does not exist.
 * Answers false when the report was stale or the machine is DELETED.
 */
export async function reportPowerState(
  deps: ControlDeps,
  p: Principal,
  input: PowerReportInput,
): Promise<{ applied: boolean }> {
  const { store } = deps;
  const notFound = () => MulliganError.notFound("machine", input.machineUuid, "machine_uuid");
  if (!(await mayRunOn(deps, p, input.hostUuid))) throw notFound();
  const now = nowIso();
  // An executor's clock ahead of the server's must not block the reports that follow.
  const observedAt = input.observedAt === "" || input.observedAt > now ? now : input.observedAt;
  const result = await store.transaction((tx) =>
    idempotent(store, tx, requestKey("ReportPowerState", p, input), async () => {
      const m = await repo.getMachine(tx, input.machineUuid);
      if (!m || m.hostUuid !== input.hostUuid) throw notFound();
      if (m.state === "DELETED" || (m.powerStateAt !== "" && observedAt <= m.powerStateAt))
        return { applied: false };
      const changed = m.powerState !== input.power;
      const event = changed ? { message: POWER_MESSAGES[input.power], at: now } : null;
      if (!(await repo.recordPower(tx, m, input.power, observedAt, event)))
        throw new RetryTransaction("another power report landed meanwhile");
      return { applied: true };
    }),
  );
  if (result.applied) deps.changed.notify();
  return result;
}

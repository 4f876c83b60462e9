/**
 * Machines as callers see them: Provision records the request and returns at once (the
 * scheduler and the executors do the rest), Decommission starts the teardown, the reads follow
 * tenancy — a machine of another project is NOT_FOUND, exactly like one that does not exist.
 */
import type { Caller } from "../platform/caller.js";
import { MulliganError } from "../platform/errors.js";
import { newUuid, nowIso } from "../platform/ids.js";
import { pageOf } from "../platform/paging.js";
import type { Principal } from "../platform/principal.js";
import { resolveProject } from "../platform/project-scope.js";
import { idempotent } from "../store/request-log.js";
import { RetryTransaction } from "../store/store.js";
import { type ControlDeps, requestKey, visibleProjects } from "./deps.js";
import type {
  Machine,
  MachineDistance,
  MachineKind,
  MachineSpec,
  MachineState,
  RequestGroupJson,
} from "./model.js";
import { undeployNode } from "./node-deploy.js";
import { syncProvider } from "./nodes.js";
import * as repo from "./repo.js";

/** A decoded Provision request. */
export interface ProvisionInput {
  requestId?: string;
  name: string;
  project?: string;
  region?: string;
  kind: MachineKind;
  groups: RequestGroupJson[];
  distance: MachineDistance[];
  image: string;
  sshKeys: string[];
  userData: string;
}

/**
 * Records the machine PENDING with its first event, after checking that the request makes
 * sense to the resource engine (bad classes or capabilities are INVALID_ARGUMENT now, not an
 * ERROR later). A request that nothing in the fleet can satisfy is still recorded and goes
 * ERROR at once with the engine's explanation, so the caller sees why on the machine.
 */
export async function provision(
  deps: ControlDeps,
  caller: Caller,
  input: ProvisionInput,
): Promise<Machine> {
  const p = caller.principal;
  const { store } = deps;
  const key = requestKey("Provision", p, input);
  const project = await resolveProject(deps.projects, caller, input.project, "spec.project");
  let region = { uuid: "", name: "" };
  if (input.region) {
    const found = await deps.regions.findRegion(caller, input.region);
    if (!found) throw MulliganError.notFound("region", input.region, "spec.region");
    region = found;
  }
  const image = await repo.findImage(store.db, input.image, [project.uuid]);
  if (!image) throw MulliganError.notFound("image", input.image, "spec.image");
  // A distance constraint names machines the caller may see: another project's machine is
  // NOT_FOUND, so where it runs cannot be probed through this one's placement.
  for (const [i, d] of input.distance.entries())
    for (const [j, uuid] of d.consumers.entries())
      if (!(await repo.findMachine(store.db, uuid, visibleProjects(p))))
        throw MulliganError.notFound("machine", uuid, `spec.distance[${i}].consumers[${j}]`);
  const unfit = await deps.placement
    .explain({
      groups: input.groups,
      distance: input.distance,
      region: region.uuid,
      projectUuid: project.uuid,
      avoidHosts: [],
    })
    .catch((err: unknown) => {
      throw underSpec(MulliganError.from(err));
    });
  const now = nowIso();
  const spec: MachineSpec = {
    name: input.name,
    kind: input.kind,
    groups: input.groups,
    distance: input.distance,
    sshKeys: input.sshKeys,
    userData: input.userData,
  };
  const machine = await store.transaction((tx) =>
    idempotent(store, tx, key, async () => {
      const m: Machine = {
        uuid: newUuid(),
        name: input.name,
        projectUuid: project.uuid,
        projectName: project.name,
        ownerUuid: p.accountUuid,
        regionUuid: region.uuid,
        regionName: region.name,
        kind: input.kind,
        state: "PENDING",
        failedStep: "",
        reason: "",
        message: "",
        imageUuid: image.uuid,
        imageName: image.name,
        hostUuid: "",
        hostName: "",
        spec,
        allocations: [],
        attempts: [],
        powerState: "",
        powerStateAt: "",
        createdAt: now,
        updatedAt: now,
      };
      try {
        await repo.insertMachine(tx, m, "accepted; waiting for a host");
      } catch (err) {
        if (store.isUniqueViolation(err))
          throw MulliganError.alreadyExists("machine", input.name, "spec.name");
        throw err;
      }
      if (unfit !== undefined) {
        const change = {
          step: "schedule",
          failedStep: "schedule",
          reason: "NO_CAPACITY",
          message: `no host can take the machine: ${unfit}`,
          at: now,
        };
        await repo.transition(tx, m, "ERROR", change);
      }
      return m.uuid;
    }),
  );
  deps.changed.notify();
  return mustGet(deps, machine);
}

/** Field paths of the resource part's query ("query.groups[0]…") under the machine's spec. */
function underSpec(e: MulliganError): MulliganError {
  if (e.code !== "INVALID_ARGUMENT") return e;
  const field = (f: string) => f.replace(/^query\./, "spec.");
  return new MulliganError(
    e.code,
    e.reason,
    e.message.replace(/query\./g, "spec."),
    e.violations.map((v) => ({ ...v, field: field(v.field) })),
    e.metadata,
  );
}

async function mustGet(deps: ControlDeps, uuid: string): Promise<Machine> {
  const m = await repo.getMachine(deps.store.db, uuid);
  if (!m) throw new MulliganError("INTERNAL", "MACHINE_VANISHED", `machine ${uuid} vanished`);
  return m;
}

/** A machine the principal may see, by name or UUID (NOT_FOUND otherwise). */
export async function getMachine(deps: ControlDeps, p: Principal, ref: string): Promise<Machine> {
  const m = await repo.findMachine(deps.store.db, ref, visibleProjects(p));
  if (!m) throw MulliganError.notFound("machine", ref, "machine");
  return m;
}

export interface ListMachinesInput {
  pageSize: number;
  after: { k: string; u: string } | undefined;
  state?: MachineState;
  showDeleted: boolean;
}

export async function listMachines(deps: ControlDeps, p: Principal, input: ListMachinesInput) {
  const rows = await repo.listMachines(deps.store.db, {
    projects: visibleProjects(p),
    ...(input.state ? { state: input.state } : {}),
    showDeleted: input.showDeleted,
    ...(input.after ? { after: input.after } : {}),
    limit: input.pageSize + 1,
  });
  return pageOf(rows, input.pageSize, (m) => ({ k: m.name, u: m.uuid }));
}

/**
 * Starts the teardown. A machine with a guest on a host goes DECOMMISSIONING and its host gets
 * a DESTROY task (an unfinished build is cancelled); one that never reached a host is released
 * and DELETED at once. Asking again is harmless: the machine is returned as it is.
 */
export async function decommission(
  deps: ControlDeps,
  p: Principal,
  input: { requestId?: string; machine: string },
): Promise<Machine> {
  const { store } = deps;
  const found = await getMachine(deps, p, input.machine);
  const uuid = await store.transaction((tx) =>
    idempotent(store, tx, requestKey("Decommission", p, input), async () => {
      const m = await repo.getMachine(tx, found.uuid);
      if (!m || m.state === "DELETED" || m.state === "DECOMMISSIONING") return found.uuid;
      const now = nowIso();
      await repo.cancelOpenBuilds(tx, m.uuid, now);
      if (m.hostUuid === "" || m.state === "PENDING" || m.state === "SCHEDULING") {
        // Nothing runs anywhere; the scheduler releases a claim it makes after this.
        const moved = await repo.transition(tx, m, "DELETED", {
          step: "teardown",
          message: "deleted",
          at: now,
        });
        if (!moved) throw new RetryTransaction("the machine moved on meanwhile");
      } else {
        const moved = await repo.transition(tx, m, "DECOMMISSIONING", {
          step: "teardown",
          message: `tearing down on ${m.hostName || m.hostUuid}`,
          at: now,
        });
        if (!moved) throw new RetryTransaction("the machine moved on meanwhile");
        if (m.kind === "BAREMETAL") {
          if (!(await undeployNode(tx, m, now))) {
            const gone = { ...m, state: "DECOMMISSIONING" as const };
            await repo.transition(tx, gone, "DELETED", {
              step: "teardown",
              message: "deleted",
              at: now,
            });
          }
        } else
          await repo.insertTask(
            tx,
            { uuid: newUuid(), kind: "DESTROY_VM", machineUuid: m.uuid, hostUuid: m.hostUuid },
            now,
          );
      }
      return m.uuid;
    }),
  );
  const m = await mustGet(deps, uuid);
  // DELETED without a host: release outside the transaction (idempotent; a crash right here is
  // undone by the start-up sweep, claim-sweep.ts).
  if (m.state === "DELETED") await deps.placement.release(m.uuid);
  if (m.kind === "BAREMETAL" && m.hostUuid !== "") await syncProvider(deps, m.hostUuid);
  deps.changed.notify();
  return m;
}

/** The last console text an executor published for the machine. */
export async function consoleLog(
  deps: ControlDeps,
  p: Principal,
  input: { machine: string; maxBytes: number },
): Promise<{ text: string; capturedAt: string | null }> {
  const m = await getMachine(deps, p, input.machine);
  const c = await repo.getConsole(deps.store.db, m.uuid);
  if (!c) return { text: "", capturedAt: null };
  const bytes = Buffer.from(c.text, "utf8");
  const text =
    bytes.length > input.maxBytes
      ? bytes.subarray(bytes.length - input.maxBytes).toString("utf8")
      : c.text;
  return { text, capturedAt: c.captured_at };
}

/** How often a watcher re-reads when nothing in this process woke it (other replicas). */
const WATCH_POLL_MS = 500;

/**
 * The machine's events after `afterSeq`, then each new one as it is committed, until the
 * machine is DELETED or `signal` aborts.
 */
export async function* watchMachine(
  deps: ControlDeps,
  p: Principal,
  input: { machine: string; afterSeq: number },
  signal: AbortSignal,
) {
  const m = await getMachine(deps, p, input.machine);
  let after = input.afterSeq;
  while (!signal.aborted) {
    const waited = deps.changed.wait(WATCH_POLL_MS, signal);
    const events = await repo.eventsAfter(deps.store.db, m.uuid, after);
    if (events.length > 0) {
      const machine = await mustGet(deps, m.uuid);
      for (const e of events) {
        after = e.seq;
        yield { event: e, machine };
      }
      if (machine.state === "DELETED" && events.at(-1)?.state === "DELETED") return;
    } else {
      const machine = await mustGet(deps, m.uuid);
      if (machine.state === "DELETED") return;
    }
    await waited;
  }
  if (signal.reason) throw signal.reason;
}

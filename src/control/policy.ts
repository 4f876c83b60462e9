/**
 * Who may call which control RPC. Machines are for project members (readers read); images of
 * the fleet are managed by admins and operators (checked in the domain); the executor link is
 * for executor accounts only.
 */
import { ADMIN, FLEET_WRITERS, type PolicyTable, READERS, WRITERS } from "../platform/policy.js";
import type { RoleName } from "../platform/principal.js";

const EXECUTORS: readonly RoleName[] = ["executor"];

export const machinePolicy: PolicyTable = {
  Provision: WRITERS,
  GetMachine: READERS,
  ListMachines: READERS,
  WatchMachine: READERS,
  Decommission: WRITERS,
  GetConsoleLog: READERS,
  Configure: ADMIN,
};

export const imagePolicy: PolicyTable = {
  RegisterImage: WRITERS,
  GetImage: READERS,
  ListImages: READERS,
  DeleteImage: WRITERS,
};

export const executorPolicy: PolicyTable = {
  LeaseTasks: EXECUTORS,
  ReportTask: EXECUTORS,
  ReportPowerState: EXECUTORS,
};

/** Nodes are fleet objects: fleet roles only (a project-bound role is refused in the domain). */
export const nodePolicy: PolicyTable = {
  EnrollNode: FLEET_WRITERS,
  GetNode: READERS,
  ListNodes: READERS,
  InspectNode: FLEET_WRITERS,
  CleanNode: FLEET_WRITERS,
  SetMaintenance: FLEET_WRITERS,
  DeleteNode: FLEET_WRITERS,
};

/**
 * Who may call which control RPC. Machines are for project members (readers read); images of
 * the fleet are managed by admins and operators (checked in the domain); the executor link is
 * for executor accounts only.
 */
import { ADMIN, type PolicyTable, READERS, WRITERS } from "../platform/policy.js";
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
};

/**
 * Tenancy of the registry. A project-owned object is visible to principals whose token is
 * scoped to that project and to fleet-seeing principals (global admin, operator, reader);
 * fleet objects only to fleet-seeing ones, except EXTERNAL regions, which every caller sees.
 * Everything else answers NOT_FOUND, exactly as a UUID that was never used.
 */
import type { Caller } from "../platform/caller.js";
import type { ProjectDirectory } from "../platform/directory.js";
import { MulliganError } from "../platform/errors.js";
import { managesFleet, type Principal, seesFleet } from "../platform/principal.js";
import { type ProjectChoice, resolveProject } from "../platform/project-scope.js";
import { type IdempotencyKey, idempotencyKey } from "../store/request-log.js";
import type { Store } from "../store/store.js";
import type { RegisteredObject } from "./model.js";
import type { ObjectRow, ObjectScope } from "./repo.js";

/** What the meta domain needs from its host. */
export interface MetaDeps {
  store: Store;
  projects: ProjectDirectory;
}

/** The owner key of fleet objects in meta_objects.project_uuid. */
export const FLEET = "";

/** Every object the principal may see (FindObjects without a project, lookups by UUID). */
export function readScope(p: Principal): ObjectScope {
  if (seesFleet(p)) return { all: true };
  return { all: false, projects: p.projectUuid ? [p.projectUuid] : [], externalRegions: true };
}

/**
 * Where names resolve: the given project only, or else the token's project plus fleet objects
 * (fleet-seeing callers) or EXTERNAL regions (everyone else).
 */
export function nameScope(p: Principal, projectUuid: string | undefined): ObjectScope {
  if (projectUuid !== undefined)
    return { all: false, projects: [projectUuid], externalRegions: false };
  const own = p.projectUuid ? [p.projectUuid] : [];
  if (seesFleet(p)) return { all: false, projects: [...own, FLEET], externalRegions: false };
  return { all: false, projects: own, externalRegions: true };
}

/** Fleet objects change only through fleet managers; project objects through their project. */
export function assertWritable(p: Principal, row: Pick<ObjectRow, "project_uuid" | "name">): void {
  if (managesFleet(p)) return;
  if (row.project_uuid === FLEET)
    throw MulliganError.permissionDenied(
      "FLEET_ROLE_REQUIRED",
      `"${row.name}" is a fleet object: only global admins and operators change it`,
    );
  if (row.project_uuid !== p.projectUuid)
    throw MulliganError.permissionDenied(
      "PROJECT_ROLE_REQUIRED",
      `"${row.name}" belongs to another project than your token's`,
    );
}

/** Regions and property definitions: global admins and operators only. */
export function assertFleetManager(p: Principal): void {
  if (!managesFleet(p))
    throw MulliganError.permissionDenied(
      "FLEET_ROLE_REQUIRED",
      "only global admins and operators change regions and property definitions",
    );
}

/**
 * The owner of a new object: the named project (a fleet manager may name any it sees, others
 * only their token's), else a fleet object for fleet managers, else the token's project.
 */
export async function ownerFor(
  deps: MetaDeps,
  caller: Caller,
  ref: string | undefined,
): Promise<ProjectChoice | undefined> {
  const p = caller.principal;
  if (ref !== undefined) {
    const project = await resolveProject(deps.projects, caller, ref, "project");
    if (!managesFleet(p) && project.uuid !== p.projectUuid)
      throw MulliganError.permissionDenied(
        "PROJECT_ROLE_REQUIRED",
        `you may register objects only in your token's project`,
      );
    return project;
  }
  if (managesFleet(p)) return undefined;
  if (!p.projectUuid)
    throw MulliganError.permissionDenied(
      "FLEET_ROLE_REQUIRED",
      "only global admins and operators register fleet objects; use a project-scoped token",
    );
  return { uuid: p.projectUuid, name: p.projectName ?? "" };
}

/** Fills in project names (one directory call), outside any transaction. */
export async function withProjectNames(
  deps: MetaDeps,
  caller: Caller,
  objects: RegisteredObject[],
): Promise<RegisteredObject[]> {
  const uuids = [...new Set(objects.flatMap((o) => (o.projectUuid ? [o.projectUuid] : [])))];
  if (uuids.length === 0) return objects;
  const names = await deps.projects.getProjects(caller, uuids);
  return objects.map((o) =>
    o.projectUuid ? { ...o, projectName: names.get(o.projectUuid)?.name ?? o.projectName } : o,
  );
}

/** The request-log key of a mutation by `caller` (request ids are scoped per account). */
export function requestKey(
  method: string,
  p: Principal,
  input: { requestId?: string | undefined },
): IdempotencyKey {
  return idempotencyKey("meta_requests", method, p.accountUuid, input);
}

/**
 * Which project a request may name, shared by the parts that own project-scoped objects (meta's
 * objects, resource's consumers and quotas) so tenancy answers alike everywhere.
 */
import type { Caller } from "./caller.js";
import type { ProjectDirectory } from "./directory.js";
import { MulliganError } from "./errors.js";
import { seesFleet } from "./principal.js";

/** A project the caller may name, as resolved before a transaction starts. */
export interface ProjectChoice {
  uuid: string;
  name: string;
}

/**
 * The project a request names (default: the token's; FIELD_REQUIRED with a token without
 * project). The token's own project is taken from the token; any other is NOT_FOUND for a
 * caller that does not see the fleet (without asking whether it exists) and looked up in the
 * directory for one that does. Call it outside transactions: the directory may read the store.
 */
export async function resolveProject(
  projects: ProjectDirectory,
  caller: Caller,
  ref: string | undefined,
  field = "project",
): Promise<ProjectChoice> {
  const p = caller.principal;
  if (ref === undefined) {
    if (p.projectUuid === null)
      throw MulliganError.invalid(
        field,
        "FIELD_REQUIRED",
        "is required with a token without project",
      );
    return { uuid: p.projectUuid, name: p.projectName ?? "" };
  }
  const own =
    p.projectUuid !== null &&
    (ref.toLowerCase() === p.projectUuid.toLowerCase() || ref === p.projectName);
  if (own && p.projectUuid !== null) return { uuid: p.projectUuid, name: p.projectName ?? "" };
  if (!seesFleet(p)) throw MulliganError.notFound("project", ref, field);
  const found = await projects.findProject(caller, ref);
  if (!found) throw MulliganError.notFound("project", ref, field);
  return { uuid: found.uuid, name: found.name };
}

/** An optional project filter: none when the request names no project, else resolveProject's. */
export async function projectFilter(
  projects: ProjectDirectory,
  caller: Caller,
  ref: string | undefined,
  field = "project",
): Promise<ProjectChoice | undefined> {
  return ref === undefined ? undefined : resolveProject(projects, caller, ref, field);
}

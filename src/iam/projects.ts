/**
 * Projects: a tree whose parent is fixed at creation (so it can never form a cycle). A role
 * bound on a project applies to its whole subtree. Readers of a project see its subtree only;
 * any other project answers NOT_FOUND. A project-scoped admin creates, changes and deletes
 * projects below its own; only a global admin creates top-level projects.
 */
import type { Kysely } from "kysely";
import { MulliganError } from "../platform/errors.js";
import { newUuid, nowIso } from "../platform/ids.js";
import { type PageKey, pageOf } from "../platform/paging.js";
import type { Principal } from "../platform/principal.js";
import type { Database } from "../store/database.js";
import { idempotent } from "../store/request-log.js";
import type { Store } from "../store/store.js";
import type { Page, Project } from "./model.js";
import * as repo from "./repo.js";
import {
  adminScope,
  inScope,
  requestKey,
  type Scope,
  scopeFilter,
  toProject,
  visibleScope,
} from "./scope.js";

export interface CreateProjectInput {
  requestId?: string;
  name: string;
  /** Parent name or UUID; undefined for a top-level project. */
  parent?: string;
  description: string;
}

export interface ListProjectsInput {
  pageSize: number;
  after: PageKey | undefined;
  parent?: string;
}

export interface UpdateProjectInput {
  requestId?: string;
  project: string;
  description?: string;
}

export interface DeleteProjectInput {
  requestId?: string;
  project: string;
}

/** The project if it exists inside `scope`; NOT_FOUND (on `field`) otherwise. */
export async function projectIn(
  db: Kysely<Database>,
  scope: Scope,
  ref: string,
  field: string,
): Promise<repo.ProjectRow> {
  const row = await repo.findProjectRow(db, ref);
  if (!row || !inScope(scope, row.uuid)) throw MulliganError.notFound("project", ref, field);
  return row;
}

/** A project the caller administers: NOT_FOUND if invisible, PERMISSION_DENIED if only visible. */
async function administeredProject(
  db: Kysely<Database>,
  caller: Principal,
  ref: string,
  field: string,
) {
  const row = await projectIn(db, await visibleScope(db, caller), ref, field);
  const scope = await adminScope(db, caller);
  if (!inScope(scope, row.uuid))
    throw MulliganError.permissionDenied(
      "PROJECT_OUT_OF_SCOPE",
      `you do not administer project "${row.name}"`,
    );
  return { row, scope };
}

export async function createProject(
  store: Store,
  caller: Principal,
  input: CreateProjectInput,
): Promise<Project> {
  return store.transaction((tx) =>
    idempotent(store, tx, requestKey("CreateProject", caller.accountUuid, input), async () => {
      let parent: repo.ProjectRow | undefined;
      if (input.parent !== undefined)
        parent = (await administeredProject(tx, caller, input.parent, "parent")).row;
      else if (!(await adminScope(tx, caller)).all)
        throw MulliganError.permissionDenied(
          "PROJECT_OUT_OF_SCOPE",
          "only a global admin creates top-level projects",
        );
      if (await repo.findProjectRow(tx, input.name))
        throw MulliganError.alreadyExists("project", input.name);
      const now = nowIso();
      const row = {
        uuid: newUuid(),
        name: input.name,
        parent_uuid: parent?.uuid ?? null,
        description: input.description,
        created_at: now,
        updated_at: now,
      };
      try {
        await repo.insertProject(tx, row);
      } catch (err) {
        if (store.isUniqueViolation(err)) throw MulliganError.alreadyExists("project", input.name);
        throw err;
      }
      return toProject({ ...row, parent_name: parent?.name ?? null });
    }),
  );
}

export async function getProject(store: Store, caller: Principal, ref: string): Promise<Project> {
  return toProject(await projectIn(store.db, await visibleScope(store.db, caller), ref, "project"));
}

export async function listProjects(
  store: Store,
  caller: Principal,
  input: ListProjectsInput,
): Promise<Page<Project>> {
  const scope = await visibleScope(store.db, caller);
  const parent =
    input.parent === undefined
      ? undefined
      : await projectIn(store.db, scope, input.parent, "parent");
  const rows = await repo.listProjectRows(
    store.db,
    { parentUuid: parent?.uuid, within: scopeFilter(scope) },
    { after: input.after, limit: input.pageSize + 1 },
  );
  const page = pageOf(rows, input.pageSize, (r) => ({ k: r.name, u: r.uuid }));
  return { items: page.items.map(toProject), nextPageToken: page.nextPageToken };
}

export async function updateProject(
  store: Store,
  caller: Principal,
  input: UpdateProjectInput,
): Promise<Project> {
  return store.transaction((tx) =>
    idempotent(store, tx, requestKey("UpdateProject", caller.accountUuid, input), async () => {
      const { row } = await administeredProject(tx, caller, input.project, "project");
      const patch = {
        ...(input.description !== undefined && { description: input.description }),
        updated_at: nowIso(),
      };
      await repo.updateProjectRow(tx, row.uuid, patch);
      return toProject({ ...row, ...patch });
    }),
  );
}

/**
 * Deletes an empty project: one without sub-projects or role bindings (revoke them first).
 * A project-scoped admin may not delete the project its own authority comes from.
 */
export async function deleteProject(
  store: Store,
  caller: Principal,
  input: DeleteProjectInput,
): Promise<void> {
  await store.transaction((tx) =>
    idempotent(store, tx, requestKey("DeleteProject", caller.accountUuid, input), async () => {
      const { row, scope } = await administeredProject(tx, caller, input.project, "project");
      if (!scope.all && scope.root === row.uuid)
        throw MulliganError.permissionDenied(
          "PROJECT_OUT_OF_SCOPE",
          "you cannot delete the project you administer from",
        );
      if (await repo.projectHasChildren(tx, row.uuid))
        throw MulliganError.failedPrecondition(
          "PROJECT_HAS_CHILDREN",
          `project "${row.name}" has sub-projects`,
        );
      if (await repo.projectHasBindings(tx, row.uuid))
        throw MulliganError.failedPrecondition(
          "PROJECT_HAS_BINDINGS",
          `project "${row.name}" has role bindings`,
        );
      await repo.deleteProjectRow(tx, row.uuid);
      return null;
    }),
  );
}

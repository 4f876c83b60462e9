/**
 * Images machines boot from. A fleet image (no project) is registered by admins or operators
 * and usable by every project; a project's image only by that project. The checksum recorded
 * here is verified on the host before each use, never trusted from the file.
 */
import type { Caller } from "../platform/caller.js";
import { MulliganError } from "../platform/errors.js";
import { newUuid, nowIso } from "../platform/ids.js";
import { pageOf } from "../platform/paging.js";
import { managesFleet, type Principal } from "../platform/principal.js";
import { resolveProject } from "../platform/project-scope.js";
import { idempotent } from "../store/request-log.js";
import { type ControlDeps, requestKey, visibleProjects } from "./deps.js";
import { DEFAULT_BOOT_MARKER, type Image, type ImageSource } from "./model.js";
import * as repo from "./repo.js";

export interface RegisterImageInput {
  requestId?: string;
  name: string;
  project?: string;
  source: ImageSource;
  bootMarker: string;
}

export async function registerImage(
  deps: ControlDeps,
  caller: Caller,
  input: RegisterImageInput,
): Promise<Image> {
  const p = caller.principal;
  const { store } = deps;
  let projectUuid = "";
  if (input.project !== undefined)
    projectUuid = (await resolveProject(deps.projects, caller, input.project)).uuid;
  else if (!managesFleet(p))
    throw MulliganError.permissionDenied(
      "FLEET_IMAGE_FORBIDDEN",
      "registering a fleet image (no project) needs the admin or operator role",
    );
  return store.transaction((tx) =>
    idempotent(store, tx, requestKey("RegisterImage", p, input), async () => {
      const image: Image = {
        uuid: newUuid(),
        name: input.name,
        projectUuid,
        source: input.source,
        bootMarker: input.bootMarker || DEFAULT_BOOT_MARKER,
        createdAt: nowIso(),
      };
      try {
        await repo.insertImage(tx, image);
      } catch (err) {
        if (store.isUniqueViolation(err)) throw MulliganError.alreadyExists("image", input.name);
        throw err;
      }
      return image;
    }),
  );
}

export async function getImage(deps: ControlDeps, p: Principal, ref: string): Promise<Image> {
  const image = await repo.findImage(deps.store.db, ref, visibleProjects(p));
  if (!image) throw MulliganError.notFound("image", ref, "image");
  return image;
}

export async function listImages(
  deps: ControlDeps,
  p: Principal,
  input: { pageSize: number; after: { k: string; u: string } | undefined },
) {
  const rows = await repo.listImages(deps.store.db, {
    projects: visibleProjects(p),
    ...(input.after ? { after: input.after } : {}),
    limit: input.pageSize + 1,
  });
  return pageOf(rows, input.pageSize, (i) => ({ k: i.name, u: i.uuid }));
}

/** Deletes an image no live machine uses (FAILED_PRECONDITION IMAGE_IN_USE otherwise). */
export async function deleteImage(
  deps: ControlDeps,
  p: Principal,
  input: { requestId?: string; image: string },
): Promise<void> {
  const image = await getImage(deps, p, input.image);
  if (image.projectUuid === "" && !managesFleet(p))
    throw MulliganError.permissionDenied(
      "FLEET_IMAGE_FORBIDDEN",
      "deleting a fleet image needs the admin or operator role",
    );
  const { store } = deps;
  await store.transaction((tx) =>
    idempotent(store, tx, requestKey("DeleteImage", p, input), async () => {
      if (await repo.imageInUse(tx, image.uuid))
        throw MulliganError.failedPrecondition(
          "IMAGE_IN_USE",
          `image ${image.name} is used by a machine that is not deleted`,
        );
      await repo.deleteImage(tx, image.uuid);
      return null;
    }),
  );
}

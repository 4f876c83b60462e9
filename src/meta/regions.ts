/**
 * Regions: registry objects of kind "region" with a parent (a forest: no single root is
 * required), failure-domain attributes and a visibility. INTERNAL regions exist only for
 * fleet-seeing callers; EXTERNAL ones for everyone. A region is deleted only when empty.
 */
import type { Kysely } from "kysely";
import { MulliganError } from "../platform/errors.js";
import { newUuid, nowIso } from "../platform/ids.js";
import { type PageKey, pageOf } from "../platform/paging.js";
import { type Principal, seesAllRegions } from "../platform/principal.js";
import { slugify, Violations } from "../platform/validate.js";
import type { Database } from "../store/database.js";
import { idempotent } from "../store/request-log.js";
import type { Store } from "../store/store.js";
import { assertFleetManager, FLEET, requestKey } from "./access.js";
import type { Page, Region, RegionVisibility } from "./model.js";
import * as repo from "./repo.js";

/** A decoded CreateRegion request. */
export interface CreateRegionInput {
  requestId?: string;
  name: string;
  /** Parent name, slug or UUID; undefined for a top-level region. */
  parent?: string;
  description: string;
  visibility: RegionVisibility;
  failurePower: string;
  failureNetwork: string;
}

/** A page of visible regions, optionally the children of one. */
export interface ListRegionsInput {
  pageSize: number;
  after: PageKey | undefined;
  parent?: string;
}

/** Only the fields present change; parent null makes the region top-level. */
export interface UpdateRegionInput {
  requestId?: string;
  region: string;
  description?: string;
  visibility?: RegionVisibility;
  failurePower?: string;
  failureNetwork?: string;
  parent?: string | null;
}

/** The region to delete. */
export interface DeleteRegionInput {
  requestId?: string;
  region: string;
}

function toRegion(row: repo.RegionRow, p: Principal): Region {
  // The parent of an EXTERNAL region may be INTERNAL: callers who cannot see it get no hint.
  const hideParent = row.parent_visibility === "internal" && !seesAllRegions(p);
  return {
    uuid: row.uuid,
    name: row.name,
    slug: row.slug,
    parentUuid: hideParent ? null : row.parent_uuid,
    parentName: hideParent ? null : row.parent_name,
    description: row.description,
    visibility: row.visibility as RegionVisibility,
    failurePower: row.failure_power,
    failureNetwork: row.failure_network,
    createTime: row.created_at,
    updateTime: row.updated_at,
  };
}

/** A region the principal may see; NOT_FOUND (on `field`) otherwise. */
export async function visibleRegion(
  db: Kysely<Database>,
  p: Principal,
  ref: string,
  field: string,
): Promise<repo.RegionRow> {
  const row = await repo.findRegionRow(db, ref, !seesAllRegions(p));
  if (!row) throw MulliganError.notFound("region", ref, field);
  return row;
}

/** Creates a region (CreateRegion). */
export async function createRegion(
  store: Store,
  caller: Principal,
  input: CreateRegionInput,
): Promise<Region> {
  assertFleetManager(caller);
  return store.transaction((tx) =>
    idempotent(store, tx, requestKey("CreateRegion", caller, input), async () => {
      const parent =
        input.parent === undefined
          ? undefined
          : await visibleRegion(tx, caller, input.parent, "parent");
      const key = {
        kind: "region",
        projectUuid: FLEET,
        name: input.name,
        slug: slugify(input.name),
      };
      if (await repo.nameTaken(tx, key)) throw MulliganError.alreadyExists("region", input.name);
      const now = nowIso();
      const uuid = newUuid();
      try {
        await repo.insertObject(tx, {
          uuid,
          kind: "region",
          name: input.name,
          slug: key.slug,
          project_uuid: FLEET,
          region_uuid: parent?.uuid ?? null,
          properties: "{}",
          created_at: now,
          updated_at: now,
        });
      } catch (err) {
        if (store.isUniqueViolation(err)) throw MulliganError.alreadyExists("region", input.name);
        throw err;
      }
      const attributes = {
        uuid,
        parent_uuid: parent?.uuid ?? null,
        description: input.description,
        visibility: input.visibility,
        failure_power: input.failurePower,
        failure_network: input.failureNetwork,
      };
      await repo.insertRegion(tx, attributes);
      return toRegion(
        {
          ...attributes,
          name: input.name,
          slug: key.slug,
          created_at: now,
          updated_at: now,
          parent_name: parent?.name ?? null,
          parent_visibility: parent?.visibility ?? null,
        },
        caller,
      );
    }),
  );
}

/** One visible region by name, slug or UUID. */
export async function getRegion(store: Store, caller: Principal, ref: string): Promise<Region> {
  return toRegion(await visibleRegion(store.db, caller, ref, "region"), caller);
}

/** Visible regions by name; INTERNAL ones only for fleet-seeing callers. */
export async function listRegions(
  store: Store,
  caller: Principal,
  input: ListRegionsInput,
): Promise<Page<Region>> {
  const parent =
    input.parent === undefined
      ? undefined
      : await visibleRegion(store.db, caller, input.parent, "parent");
  const rows = await repo.listRegionRows(
    store.db,
    { parentUuid: parent?.uuid, externalOnly: !seesAllRegions(caller) },
    { after: input.after, limit: input.pageSize + 1 },
  );
  const page = pageOf(rows, input.pageSize, (r) => ({ k: r.name, u: r.uuid }));
  return { items: page.items.map((r) => toRegion(r, caller)), nextPageToken: page.nextPageToken };
}

/** Refuses a parent that is the region itself or lies below it. */
async function assertNoCycle(db: Kysely<Database>, region: string, parent: string): Promise<void> {
  for (let at: string | undefined = parent; at !== undefined; at = await repo.parentOf(db, at)) {
    if (at === region)
      throw MulliganError.invalid(
        "parent",
        "REGION_CYCLE",
        "would make the region its own ancestor",
      );
  }
}

/** Changes a region's attributes or moves it (never below itself). */
export async function updateRegion(
  store: Store,
  caller: Principal,
  input: UpdateRegionInput,
): Promise<Region> {
  assertFleetManager(caller);
  return store.transaction((tx) =>
    idempotent(store, tx, requestKey("UpdateRegion", caller, input), async () => {
      const row = await visibleRegion(tx, caller, input.region, "region");
      let parent: repo.RegionRow | null | undefined;
      if (input.parent === null) parent = null;
      else if (input.parent !== undefined) {
        parent = await visibleRegion(tx, caller, input.parent, "parent");
        await assertNoCycle(tx, row.uuid, parent.uuid);
      }
      const patch = {
        ...(input.description !== undefined && { description: input.description }),
        ...(input.visibility !== undefined && { visibility: input.visibility }),
        ...(input.failurePower !== undefined && { failure_power: input.failurePower }),
        ...(input.failureNetwork !== undefined && { failure_network: input.failureNetwork }),
        ...(parent !== undefined && { parent_uuid: parent?.uuid ?? null }),
      };
      const now = nowIso();
      await repo.updateRegionRow(tx, row.uuid, patch);
      await repo.updateObjectRow(tx, row.uuid, {
        updated_at: now,
        ...(parent !== undefined && { region_uuid: parent?.uuid ?? null }),
      });
      const parentNames =
        parent === undefined
          ? {}
          : { parent_name: parent?.name ?? null, parent_visibility: parent?.visibility ?? null };
      return toRegion({ ...row, ...patch, ...parentNames, updated_at: now }, caller);
    }),
  );
}

/** Deletes a region without child regions or objects in it. */
export async function deleteRegion(
  store: Store,
  caller: Principal,
  input: DeleteRegionInput,
): Promise<void> {
  assertFleetManager(caller);
  await store.transaction((tx) =>
    idempotent(store, tx, requestKey("DeleteRegion", caller, input), async () => {
      const row = await visibleRegion(tx, caller, input.region, "region");
      if (await repo.regionHasObjects(tx, row.uuid))
        throw MulliganError.failedPrecondition(
          "REGION_IN_USE",
          `region "${row.name}" still holds child regions or objects`,
        );
      await repo.deleteObjectRow(tx, row.uuid);
      return null;
    }),
  );
}

/** The offline bootstrap acts as a global admin: no server, so no token to carry one. */
const BOOTSTRAP_PRINCIPAL: Principal = {
  accountUuid: "",
  accountName: "bootstrap",
  accountKind: "user",
  projectUuid: null,
  projectName: null,
  projectRoles: [],
  globalRoles: ["admin"],
  expiresAt: new Date(8.64e15),
};

/**
 * Creates the first (INTERNAL, top-level) region of a fresh installation without a server,
 * for `mulligan bootstrap --data-dir`; returns its name. Same checks as CreateRegion.
 */
export async function createFirstRegion(store: Store, name: string): Promise<string> {
  const v = new Violations();
  v.name("region", name);
  v.throwIfAny();
  const region = await createRegion(store, BOOTSTRAP_PRINCIPAL, {
    name,
    description: "created by bootstrap",
    visibility: "internal",
    failurePower: "",
    failureNetwork: "",
  });
  return region.name;
}

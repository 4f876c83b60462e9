/**
 * Regions for the other parts of this process (the resource part places providers in them),
 * read from meta's own tables with GetRegion's visibility rule: INTERNAL regions exist only for
 * fleet-seeing callers. Callers must not hold a transaction open while asking (SQLite has one
 * connection): resolve regions before a transaction, fill in names after it.
 */
import type { Caller } from "../platform/caller.js";
import type { RegionDirectory, RegionRef } from "../platform/directory.js";
import { seesAllRegions } from "../platform/principal.js";
import { isUuid } from "../platform/validate.js";
import type { Store } from "../store/store.js";
import * as repo from "./repo.js";

/** The in-process region directory of a host that runs the meta part. */
export function localRegionDirectory(store: Store): RegionDirectory {
  const externalOnly = (caller: Caller) => !seesAllRegions(caller.principal);
  return {
    async findRegion(caller, ref) {
      const row = await repo.findRegionRow(store.db, ref, externalOnly(caller));
      return row ? { uuid: row.uuid, name: row.name } : undefined;
    },
    async subtree(caller, regionUuid) {
      const hidden = externalOnly(caller);
      const links = (await repo.regionLinks(store.db)).filter(
        (l) => !hidden || l.visibility === "external",
      );
      const start = regionUuid.toLowerCase();
      const found = new Set<string>();
      if (!links.some((l) => l.uuid === start)) return found;
      const children = new Map<string, string[]>();
      for (const l of links) {
        if (l.parent_uuid === null) continue;
        const list = children.get(l.parent_uuid) ?? [];
        list.push(l.uuid);
        children.set(l.parent_uuid, list);
      }
      const queue = [start];
      for (let at = queue.pop(); at !== undefined; at = queue.pop()) {
        if (found.has(at)) continue;
        found.add(at);
        queue.push(...(children.get(at) ?? []));
      }
      return found;
    },
    async getRegions(caller, uuids) {
      const wanted = [...new Set(uuids.filter(isUuid).map((u) => u.toLowerCase()))];
      const rows = await repo.regionRowsByUuid(store.db, wanted, externalOnly(caller));
      return new Map<string, RegionRef>(rows.map((r) => [r.uuid, { uuid: r.uuid, name: r.name }]));
    },
  };
}

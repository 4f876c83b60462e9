/**
 * The region directory of a process that does not host meta: regions come from a remote
 * MetadataService, asked with the caller's own token, so the remote side applies exactly the
 * visibility rules of GetRegion and ListRegions.
 */
import { createClient, type Transport } from "@connectrpc/connect";
import { MetadataService } from "../gen/mulligan/meta/v1/meta_pb.js";
import type { Caller } from "../platform/caller.js";
import type { RegionDirectory, RegionRef } from "../platform/directory.js";
import { asCaller, findEach, unlessNotFound } from "../platform/remote-directory.js";
import { MAX_PAGE_SIZE } from "../platform/validate.js";

/** Regions from GetRegion and ListRegions; NOT_FOUND means absent. */
export class RemoteRegionDirectory implements RegionDirectory {
  private readonly client;

  constructor(transport: Transport) {
    this.client = createClient(MetadataService, transport);
  }

  async findRegion(caller: Caller, ref: string): Promise<RegionRef | undefined> {
    const res = await unlessNotFound(this.client.getRegion({ region: ref }, asCaller(caller)));
    const r = res?.region;
    return r ? { uuid: r.uuid, name: r.name } : undefined;
  }

  /** Walks the children level by level (ListRegions lists direct children of a parent). */
  async subtree(caller: Caller, regionUuid: string): Promise<ReadonlySet<string>> {
    const found = new Set<string>();
    const root = await this.findRegion(caller, regionUuid);
    if (!root) return found;
    const queue = [root.uuid];
    for (let at = queue.pop(); at !== undefined; at = queue.pop()) {
      if (found.has(at)) continue;
      found.add(at);
      let pageToken = "";
      do {
        const res = await this.client.listRegions(
          { parent: at, pageSize: MAX_PAGE_SIZE, pageToken },
          asCaller(caller),
        );
        queue.push(...res.regions.map((r) => r.uuid));
        pageToken = res.nextPageToken;
      } while (pageToken !== "");
    }
    return found;
  }

  getRegions(caller: Caller, uuids: readonly string[]): Promise<Map<string, RegionRef>> {
    return findEach(uuids, (u) => this.findRegion(caller, u));
  }
}

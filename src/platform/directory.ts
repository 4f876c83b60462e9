/**
 * How parts other than iam learn about projects without reading iam's tables: the iam part
 * provides an in-process implementation when co-hosted; a remote one calls IdentityService
 * with the caller's token when iam runs elsewhere.
 */
import type { Caller } from "./caller.js";
import type { KeySource } from "./tokens.js";

export interface ProjectRef {
  uuid: string;
  name: string;
  /** Parent UUID, or null for a top-level project. */
  parentUuid: string | null;
}

export interface ProjectDirectory {
  /** Resolves a project name or UUID; undefined if it does not exist. */
  findProject(caller: Caller, ref: string): Promise<ProjectRef | undefined>;
  /** Looks up many projects by UUID (missing ones are absent from the map). */
  getProjects(caller: Caller, uuids: readonly string[]): Promise<Map<string, ProjectRef>>;
}

/** What the iam part offers the other parts of its process. */
export interface IdentityProvider {
  keys: KeySource;
  projects: ProjectDirectory;
}

export interface RegionRef {
  uuid: string;
  name: string;
}

/**
 * How parts other than meta learn about regions without reading meta's tables (in-process from
 * the meta part when co-hosted, over MetadataService otherwise).
 */
export interface RegionDirectory {
  /** Resolves a region name, slug or UUID visible to the caller; undefined if none. */
  findRegion(caller: Caller, ref: string): Promise<RegionRef | undefined>;
  /** The UUIDs of a region and all its descendants. */
  subtree(caller: Caller, regionUuid: string): Promise<ReadonlySet<string>>;
  /** Looks up many regions by UUID (missing or invisible ones are absent). */
  getRegions(caller: Caller, uuids: readonly string[]): Promise<Map<string, RegionRef>>;
}

/**
 * Who may call each MetadataService RPC (checked by the server's auth interceptor before the
 * handler runs). Finer rules live in the domain (access.ts): region and definition writes need
 * a global admin or operator, object writes the object's project (or the fleet role), and
 * reads see only the caller's project unless it sees the fleet.
 */
import {
  ADMIN,
  EVERYONE,
  FLEET_WRITERS,
  type PolicyTable,
  READERS,
  WRITERS,
} from "../platform/policy.js";

/** The MetadataService policy table; the server refuses to start if an RPC is missing. */
export const metaPolicy: PolicyTable = {
  CreateRegion: FLEET_WRITERS,
  GetRegion: EVERYONE,
  ListRegions: EVERYONE,
  UpdateRegion: FLEET_WRITERS,
  DeleteRegion: FLEET_WRITERS,
  RegisterObject: WRITERS,
  GetObject: READERS,
  UpdateObject: WRITERS,
  DeleteObject: WRITERS,
  LookupObjects: READERS,
  FindObjects: READERS,
  SetTags: WRITERS,
  DefineProperty: FLEET_WRITERS,
  ListPropertyDefinitions: READERS,
  DeletePropertyDefinition: FLEET_WRITERS,
  SetProperties: WRITERS,
  Configure: ADMIN,
};

/**
 * The identity provider of a process that does not host iam: signing keys and projects come
 * from a remote IdentityService over gRPC. Project lookups carry the caller's own token, so
 * the remote side applies exactly the visibility rules of GetProject.
 */
import { createClient, type Transport } from "@connectrpc/connect";
import { IdentityService } from "../gen/mulligan/iam/v1/iam_pb.js";
import type { Caller } from "../platform/caller.js";
import type { ProjectDirectory, ProjectRef } from "../platform/directory.js";
import { asCaller, findEach, unlessNotFound } from "../platform/remote-directory.js";
import type { KeySource, VerificationKey } from "../platform/tokens.js";

/** Keys from GetSigningKeys (a public RPC); the TokenVerifier caches them. */
export class RemoteKeySource implements KeySource {
  private readonly client;

  constructor(transport: Transport) {
    this.client = createClient(IdentityService, transport);
  }

  async keys(): Promise<VerificationKey[]> {
    const res = await this.client.getSigningKeys({});
    return res.keys.map((k) => ({ kid: k.keyId, jwk: JSON.parse(k.publicJwk) }));
  }
}

/** Projects from GetProject, asked with the caller's token; NOT_FOUND means absent. */
export class RemoteProjectDirectory implements ProjectDirectory {
  private readonly client;

  constructor(transport: Transport) {
    this.client = createClient(IdentityService, transport);
  }

  async findProject(caller: Caller, ref: string): Promise<ProjectRef | undefined> {
    const res = await unlessNotFound(this.client.getProject({ project: ref }, asCaller(caller)));
    const p = res?.project;
    return p ? { uuid: p.uuid, name: p.name, parentUuid: p.parentUuid || null } : undefined;
  }

  getProjects(caller: Caller, uuids: readonly string[]): Promise<Map<string, ProjectRef>> {
    return findEach(uuids, (u) => this.findProject(caller, u));
  }
}

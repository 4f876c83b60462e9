/**
 * The iam part as its host sees it: the IdentityService with its policy table, and the
 * in-process identity provider (signing keys for the token verifier, projects for the other
 * parts) that co-hosted parts use instead of gRPC.
 */
import type { ConnectRouter } from "@connectrpc/connect";
import { IdentityService } from "../gen/mulligan/iam/v1/iam_pb.js";
import type { Caller } from "../platform/caller.js";
import type { IdentityProvider, ProjectDirectory, ProjectRef } from "../platform/directory.js";
import type { ServiceDeps, ServiceModule } from "../platform/service-module.js";
import type { KeySource, VerificationKey } from "../platform/tokens.js";
import { prunePeriodically, pruneRequestLog } from "../store/request-log.js";
import type { Store } from "../store/store.js";
import { iamPolicy } from "./policy.js";
import * as repo from "./repo.js";
import { inScope, visibleScope } from "./scope.js";
import { identityService } from "./service.js";
import { publishedKeys } from "./signing-keys.js";

/** Published keys read straight from the iam tables. */
export function localKeySource(store: Store): KeySource {
  return {
    async keys(): Promise<VerificationKey[]> {
      return (await publishedKeys(store.db)).map((k) => ({
        kid: k.kid,
        jwk: JSON.parse(k.publicJwk),
      }));
    },
  };
}

/** Projects as the caller may see them (the same rule as GetProject), read from the iam tables. */
export function localProjectDirectory(store: Store): ProjectDirectory {
  const toRef = (r: repo.ProjectRow): ProjectRef => ({
    uuid: r.uuid,
    name: r.name,
    parentUuid: r.parent_uuid,
  });
  return {
    async findProject(caller: Caller, ref: string) {
      const row = await repo.findProjectRow(store.db, ref);
      if (!row || !inScope(await visibleScope(store.db, caller.principal), row.uuid))
        return undefined;
      return toRef(row);
    },
    async getProjects(caller: Caller, uuids: readonly string[]) {
      const scope = await visibleScope(store.db, caller.principal);
      const rows = await repo.projectRowsByUuid(store.db, uuids);
      return new Map(rows.filter((r) => inScope(scope, r.uuid)).map((r) => [r.uuid, toRef(r)]));
    },
  };
}

/** The iam part for a host process. */
export function createIamModule(deps: ServiceDeps): ServiceModule & { identity: IdentityProvider } {
  const prune = prunePeriodically(deps.logger, "request log", () =>
    pruneRequestLog(deps.store, "iam_requests"),
  );
  return {
    part: "iam",
    services: [{ desc: IdentityService, policy: iamPolicy }],
    register(router: ConnectRouter) {
      router.service(IdentityService, identityService(deps));
    },
    async close() {
      clearInterval(prune);
    },
    identity: { keys: localKeySource(deps.store), projects: localProjectDirectory(deps.store) },
  };
}

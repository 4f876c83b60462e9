/**
 * FindCandidates and ClaimBest. A search reads a snapshot (possibly stale); ClaimBest then
 * claims the best weighed candidate in a transaction that re-checks everything, and when the
 * fleet moved on (capacity taken, inventory gone) it tries the next candidate, then searches
 * again, a bounded number of times. Clients never race for capacity themselves.
 */
import type { Caller } from "../platform/caller.js";
import type { ProjectDirectory } from "../platform/directory.js";
import { MulliganError } from "../platform/errors.js";
import { newUuid } from "../platform/ids.js";
import { projectFilter, resolveProject } from "../platform/project-scope.js";
import { recordedResult } from "../store/request-log.js";
import type { Store } from "../store/store.js";
import { requestKey } from "./access.js";
import type { ClaimResult } from "./allocations.js";
import { claimLane } from "./claim-lane.js";
import { resolveUser } from "./consumers.js";
import { KEPT_MS, keptSearch } from "./engine/kept-search.js";
import { best } from "./engine/weigh.js";
import type { ExplanationRecord, QueryInput, SearchResult } from "./model.js";
import { quotaHeadroom } from "./quotas.js";
import type { SnapshotSource } from "./snapshot-loader.js";
import type { ClaimBestInput } from "./validate-claims.js";
import type { GivenWindow } from "./validate-query.js";

/** Searches one ClaimBest may run before it gives up. */
const MAX_SEARCHES = 5;
/** Candidates of one search tried before searching again (later ones are likely stale too). */
const CANDIDATES_PER_SEARCH = 3;

/** What searching and claiming need. */
export interface SearchDeps {
  store: Store;
  projects: ProjectDirectory;
  snapshots: SnapshotSource;
}

/** A search result with the names of the providers its candidates use. */
export interface FoundCandidates extends SearchResult {
  providerNames: ReadonlyMap<string, string>;
}

/**
 * Candidates for a query (`given`: its window as the caller gave it) that also fit the project's
 * quota (default: the caller's project; none for a token without project). Quota is per class,
 * so either all fit or none. The search is kept between calls (engine/kept-search.ts) when its
 * answer cannot move with the clock.
 */
export async function findCandidatesFor(
  deps: SearchDeps,
  caller: Caller,
  query: QueryInput,
  given: GivenWindow,
  projectRef: string | undefined,
): Promise<FoundCandidates> {
  const project =
    projectRef !== undefined || caller.principal.projectUuid !== null
      ? await resolveProject(deps.projects, caller, projectRef)
      : undefined;
  const snapshot = await deps.snapshots.snapshot();
  const found = keptSearch(snapshot, queryKey(query, given), query, {
    startsNow: given.start === null,
    staleMs: 0,
  });
  const candidates = found.scored.map((s) => s.candidate);
  const result: SearchResult = {
    candidates,
    summaries: candidates.length > 0 ? found.summaries() : [],
    explanation: found.explanation,
  };
  const providerNames = new Map<string, string>();
  for (const c of result.candidates)
    for (const uuid of c.allocations.keys())
      providerNames.set(uuid, snapshot.providers.get(uuid)?.name ?? uuid);
  if (!project || result.candidates.length === 0) return { ...result, providerNames };
  const headroom = await quotaHeadroom(deps.store.db, project.uuid);
  const asked = new Map<string, number>();
  for (const g of query.groups)
    for (const [cls, n] of Object.entries(g.resources)) asked.set(cls, (asked.get(cls) ?? 0) + n);
  for (const [cls, n] of asked) {
    const left = headroom.get(cls);
    if (left === undefined || n <= left) continue;
    const detail = `the quota of project ${project.name || project.uuid} leaves ${Math.max(left, 0)} ${cls}, the query asks ${n}`;
    return {
      candidates: [],
      summaries: [],
      explanation: {
        summary: `no candidate fits the project quota: ${detail}`,
        steps: [
          { constraint: "quota", suffix: "", before: result.candidates.length, after: 0, detail },
        ],
      },
      providerNames,
    };
  }
  return { ...result, providerNames };
}

/** RESOURCE_EXHAUSTED with the explanation's summary; its steps as JSON in the metadata. */
function noCandidates(explanation: ExplanationRecord | null): MulliganError {
  const summary = explanation?.summary ?? "no provider can satisfy the query";
  return new MulliganError("RESOURCE_EXHAUSTED", "NO_CANDIDATES", summary, [], {
    explanation: JSON.stringify(explanation?.steps ?? []),
  });
}

/** True for failures that a different or fresher candidate may not have. */
function takenMeanwhile(err: unknown): boolean {
  return (
    err instanceof MulliganError &&
    (err.reason === "CAPACITY_EXCEEDED" || err.reason === "INVENTORY_MISSING")
  );
}

/**
 * The identity of a query for keeping its search (engine/kept-search.ts): every field but the
 * limit (a kept search answers any limit), the window as given, sets (regions, forbidden trees)
 * as sorted lists — JSON.stringify writes a Set as {}, which would let queries that differ only
 * in their regions or forbidden trees share one answer.
 */
export function queryKey(query: QueryInput, given: GivenWindow): string {
  return JSON.stringify({ ...query, limit: undefined, window: given }, (_, value: unknown) =>
    value instanceof Set ? [...value].sort() : value,
  );
}

/** Find, weigh, claim; retries on conflicts and reports how many claims it tried. */
export async function claimBest(
  deps: SearchDeps,
  caller: Caller,
  input: ClaimBestInput,
): Promise<ClaimResult & { attempts: number }> {
  const p = caller.principal;
  const { store } = deps;
  // The request as the caller sent it: the default window start ("now") must not change it.
  const sent = {
    ...input,
    query: {
      ...input.query,
      regions: input.query.regions && [...input.query.regions].sort(),
      window: input.given,
    },
  };
  const key = requestKey("ClaimBest", p, sent);
  const project = await projectFilter(deps.projects, caller, input.project);
  const userUuid = input.user === undefined ? null : resolveUser(caller, input.user);
  const consumer = input.consumer ?? newUuid();
  let attempts = 0;
  const searchKey = queryKey(input.query, input.given);
  // Trees whose candidate was found taken: searched again even if the index saw no change.
  const suspects = new Set<string>();
  for (let search = 0; search < MAX_SEARCHES; search++) {
    // After a conflict the index has caught up with the batch that caused it (watch.ts).
    const snapshot = await deps.snapshots.snapshot();
    const found = keptSearch(snapshot, searchKey, input.query, {
      startsNow: input.given.start === null,
      staleMs: KEPT_MS,
      suspects,
    });
    if (found.scored.length === 0) {
      // A retry of a recorded request answers from its record (the claim lane answers a retry
      // that finds candidates the same way), even if the fleet is full now.
      const previous = await recordedResult<ClaimResult & { attempts: number }>(store.db, key);
      if (previous) return previous.result;
      throw noCandidates(found.explanation);
    }
    const ordered = best(found.scored, input.weigher, input.topK, CANDIDATES_PER_SEARCH);
    for (const candidate of ordered) {
      attempts++;
      const tried = attempts;
      try {
        const write = {
          consumer,
          expectedGeneration: null,
          projectUuid: project?.uuid ?? null,
          userUuid,
          consumerType: input.consumerType,
          window: input.query.window,
          allocations: candidate.allocations,
          fields: new Map(),
        };
        return await claimLane(store).submit({ principal: p, key, write }, (r) => ({
          ...r,
          attempts: tried,
        }));
      } catch (err) {
        if (!takenMeanwhile(err)) throw err;
        for (const uuid of candidate.allocations.keys()) {
          const root = snapshot.providers.get(uuid)?.rootUuid;
          if (root !== undefined) suspects.add(root);
        }
      }
    }
  }
  throw new MulliganError(
    "RESOURCE_EXHAUSTED",
    "NO_CANDIDATES",
    `every candidate was taken by concurrent claims (${attempts} tried in ${MAX_SEARCHES} searches)`,
    [],
    { attempts: String(attempts) },
  );
}

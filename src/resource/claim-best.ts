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
import { idempotent, recordedResult } from "../store/request-log.js";
import type { Store } from "../store/store.js";
import { requestKey } from "./access.js";
import { type ClaimResult, writeClaim } from "./allocations.js";
import { resolveUser } from "./consumers.js";
import { findCandidates } from "./engine/candidates.js";
import type { Snapshot } from "./engine/snapshot.js";
import { weigh } from "./engine/weigh.js";
import type { ExplanationRecord, QueryInput, SearchResult } from "./model.js";
import { quotaHeadroom } from "./quotas.js";
import type { SnapshotSource } from "./snapshot-loader.js";
import type { ClaimBestInput } from "./validate-claims.js";

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
 * Candidates for a query that also fit the project's quota (default: the caller's project;
 * none for a token without project). Quota is per class, so either all fit or none.
 */
export async function findCandidatesFor(
  deps: SearchDeps,
  caller: Caller,
  query: QueryInput,
  projectRef: string | undefined,
): Promise<FoundCandidates> {
  const project =
    projectRef !== undefined || caller.principal.projectUuid !== null
      ? await resolveProject(deps.projects, caller, projectRef)
      : undefined;
  const snapshot = await deps.snapshots.snapshot();
  const result = findCandidates(snapshot, query);
  const providerNames = new Map<string, string>();
  for (const c of result.candidates)
    for (const uuid of c.allocations.keys())
      providerNames.set(uuid, snapshot.providers.get(uuid)?.name ?? uuid);
  for (const s of result.summaries) providerNames.set(s.uuid, s.name);
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

/** Distinct queries whose search is kept for one state of the index. */
const SHARED_QUERIES = 16;
/** A kept search older than this is not reused (its "now" window start moved on). */
const SHARED_MS = 1000;

/** Searches kept for one state of one index: the round they were made in, by query. */
interface SharedSearches {
  rounds: number;
  byQuery: Map<string, { at: number; result: SearchResult }>;
}
const sharedSearches = new WeakMap<Snapshot, SharedSearches>();

/**
 * The search of `query` over `snapshot`, shared by the ClaimBest calls that ask the same query
 * while the index has not changed (it counts the rounds it applied): concurrent schedulers
 * asking for the same shape of machine search once per commit round instead of once each. The
 * answer is the one a search would give (the index is the same), except that a query whose
 * window starts "now" reuses a search up to SHARED_MS old; the database re-checks every claim.
 * Weighing stays per call, on current usage.
 */
function sharedSearch(snapshot: Snapshot, input: ClaimBestInput): SearchResult {
  const rounds = (snapshot as Partial<{ rounds: number }>).rounds;
  if (typeof rounds !== "number") return findCandidates(snapshot, input.query);
  let shared = sharedSearches.get(snapshot);
  if (!shared || shared.rounds !== rounds) {
    shared = { rounds, byQuery: new Map() };
    sharedSearches.set(snapshot, shared);
  }
  const key = queryKey(input);
  const now = performance.now();
  const kept = shared.byQuery.get(key);
  if (kept && now - kept.at < SHARED_MS) return kept.result;
  const result = findCandidates(snapshot, input.query);
  shared.byQuery.delete(key);
  shared.byQuery.set(key, { at: now, result });
  if (shared.byQuery.size > SHARED_QUERIES) {
    const oldest = shared.byQuery.keys().next().value;
    if (oldest !== undefined) shared.byQuery.delete(oldest);
  }
  return result;
}

/**
 * The identity of a query for sharing its search: every field, sets (regions, forbidden trees)
 * as sorted lists — JSON.stringify writes a Set as {}, which would let queries that differ
 * only in their regions or forbidden trees share one answer.
 */
export function queryKey(input: ClaimBestInput): string {
  return JSON.stringify({ ...input.query, window: input.given }, (_, value: unknown) =>
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
  // A retry of a recorded request answers without searching (idempotent() decides for sure).
  const previous = await recordedResult<ClaimResult & { attempts: number }>(store.readDb, key);
  if (previous) return previous.result;
  const project = await projectFilter(deps.projects, caller, input.project);
  const userUuid = input.user === undefined ? null : resolveUser(caller, input.user);
  const consumer = input.consumer ?? newUuid();
  let attempts = 0;
  for (let search = 0; search < MAX_SEARCHES; search++) {
    const snapshot = await deps.snapshots.snapshot();
    // After a conflict the index has caught up with the batch that caused it (watch.ts): a
    // new search, never the shared one that led to the conflict.
    const result =
      search === 0 ? sharedSearch(snapshot, input) : findCandidates(snapshot, input.query);
    if (result.candidates.length === 0) throw noCandidates(result.explanation);
    const ordered = weigh(snapshot, result.candidates, input.query, input.weigher, input.topK);
    for (const candidate of ordered.slice(0, CANDIDATES_PER_SEARCH)) {
      attempts++;
      const tried = attempts;
      try {
        return await store.transaction((tx) =>
          idempotent(store, tx, key, async () => ({
            ...(await writeClaim(store, tx, p, {
              consumer,
              expectedGeneration: null,
              projectUuid: project?.uuid ?? null,
              userUuid,
              consumerType: input.consumerType,
              window: input.query.window,
              allocations: candidate.allocations,
              fields: new Map(),
            })),
            attempts: tried,
          })),
        );
      } catch (err) {
        if (!takenMeanwhile(err)) throw err;
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

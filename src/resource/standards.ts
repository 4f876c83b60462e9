/**
 * The resource classes and capabilities Placement defines (extracted from Debian's
 * os-resource-classes and os-traits by scripts/extract-placement-standards.sh), and the rules
 * both kinds of name share. Standard names are not stored: every process knows them; only
 * CUSTOM_* names live in the database.
 */
import type { Kysely } from "kysely";
import { MulliganError } from "../platform/errors.js";
import { nowIso } from "../platform/ids.js";
import { type PageKey, pageOf } from "../platform/paging.js";
import type { Principal } from "../platform/principal.js";
import type { Database } from "../store/database.js";
import { idempotent } from "../store/request-log.js";
import type { Store } from "../store/store.js";
import { assertFleetManager, assertProviderWriter, requestKey } from "./access.js";
import capabilities from "./data/standard-capabilities.json" with { type: "json" };
import classes from "./data/standard-classes.json" with { type: "json" };
import type { NameTable } from "./repo/vocabulary.js";
import * as vocabulary from "./repo/vocabulary.js";

/** Class and capability names: upper-case letters, digits and '_'. */
export const STANDARD_NAME_PATTERN = /^[A-Z0-9_]{1,255}$/;
/** Names operators may create. */
export const CUSTOM_PREFIX = "CUSTOM_";

/** Placement's standard resource classes (VCPU, MEMORY_MB, …). */
export const STANDARD_CLASSES: ReadonlySet<string> = new Set(classes.names);
/** Placement's standard traits (HW_CPU_X86_AVX2, MISC_SHARES_VIA_AGGREGATE, …). */
export const STANDARD_CAPABILITIES: ReadonlySet<string> = new Set(capabilities.names);

/** A resource class or capability as listed. */
export interface NameEntry {
  name: string;
  standard: boolean;
}

/** One kind of name: where its custom ones live, which are standard, and what uses them. */
export interface NameKind {
  /** For messages and reasons: "resource class" or "capability". */
  label: string;
  table: NameTable;
  standard: ReadonlySet<string>;
  /** The FAILED_PRECONDITION reason when a delete finds the name in use. */
  inUseReason: string;
  inUse(db: Kysely<Database>, name: string): Promise<boolean>;
}

/** A decoded List request over names. */
export interface ListNamesInput {
  pageSize: number;
  after: PageKey | undefined;
  prefix?: string;
}

/** A decoded Create or Delete request of a name. */
export interface NameMutationInput {
  requestId?: string;
  name: string;
}

/** Standard and custom names merged, sorted, filtered by prefix and paged by name. */
export async function listNames(
  store: Store,
  kind: NameKind,
  input: ListNamesInput,
): Promise<{ items: NameEntry[]; nextPageToken: string }> {
  const custom = await vocabulary.customNames(store.db, kind.table);
  const all = [
    ...[...kind.standard].map((name) => ({ name, standard: true })),
    ...custom.map((name) => ({ name, standard: false })),
  ]
    .filter((e) => input.prefix === undefined || e.name.startsWith(input.prefix))
    .filter((e) => input.after === undefined || e.name > input.after.k)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return pageOf(all.slice(0, input.pageSize + 1), input.pageSize, (e) => ({ k: e.name, u: "" }));
}

/** Creates a CUSTOM_* name (the decoder checked the prefix); ALREADY_EXISTS if it exists. */
export async function createName(
  store: Store,
  caller: Principal,
  kind: NameKind,
  method: string,
  input: NameMutationInput,
): Promise<NameEntry> {
  assertProviderWriter(caller);
  const exists = () => MulliganError.alreadyExists(kind.label, input.name);
  return store.transaction((tx) =>
    idempotent(store, tx, requestKey(method, caller, input), async () => {
      if ((await vocabulary.storedNames(tx, kind.table, [input.name])).size > 0) throw exists();
      try {
        await vocabulary.insertName(tx, kind.table, input.name, nowIso());
      } catch (err) {
        if (store.isUniqueViolation(err)) throw exists();
        throw err;
      }
      return { name: input.name, standard: false };
    }),
  );
}

/** Deletes a custom name nothing uses; standard names are never deleted. */
export async function deleteName(
  store: Store,
  caller: Principal,
  kind: NameKind,
  method: string,
  input: NameMutationInput,
): Promise<void> {
  assertFleetManager(caller);
  await store.transaction((tx) =>
    idempotent(store, tx, requestKey(method, caller, input), async () => {
      if (kind.standard.has(input.name))
        throw MulliganError.failedPrecondition(
          "STANDARD_NAME",
          `${kind.label} ${input.name} is standard and cannot be deleted`,
        );
      if ((await vocabulary.storedNames(tx, kind.table, [input.name])).size === 0)
        throw MulliganError.notFound(kind.label, input.name, "name");
      if (await kind.inUse(tx, input.name))
        throw MulliganError.failedPrecondition(
          kind.inUseReason,
          `${kind.label} ${input.name} is in use`,
        );
      await vocabulary.deleteName(tx, kind.table, input.name);
      return null;
    }),
  );
}

/** The names of `names` that are neither standard nor stored custom ones. */
export async function unknownNames(
  db: Kysely<Database>,
  kind: NameKind,
  names: readonly string[],
): Promise<Set<string>> {
  const candidates = [...new Set(names.filter((n) => !kind.standard.has(n)))];
  const stored = await vocabulary.storedNames(db, kind.table, candidates);
  return new Set(candidates.filter((n) => !stored.has(n)));
}

/**
 * Keyset pagination in SQL, shared by the parts' repos: the window of one page and the
 * predicate that starts it after the last row of the previous page (see pageOf).
 */
import { type RawBuilder, sql } from "kysely";
import type { PageKey } from "../platform/paging.js";

/** Where a keyset page starts and how many rows to fetch (the caller passes pageSize + 1). */
export interface Window {
  after: PageKey | undefined;
  limit: number;
}

/**
 * Rows after a page key in (key, tie-breaker) order, the order the list sorts by (a row-value
 * comparison: SQLite and Postgres).
 */
export function afterKey(keyColumn: string, tieColumn: string, key: PageKey): RawBuilder<boolean> {
  return sql<boolean>`(${sql.ref(keyColumn)}, ${sql.ref(tieColumn)}) > (${key.k}, ${key.u})`;
}

/**
 * Opaque page tokens for keyset pagination: the sort key of the last item returned, encoded as
 * base64url JSON. A token that does not decode is INVALID_ARGUMENT on `page_token`.
 */
import type { Violations } from "./validate.js";

export interface PageKey {
  /** The sort value of the last item (a name, usually). */
  k: string;
  /** Its UUID, the tie-breaker. */
  u: string;
}

export function encodePageToken(key: PageKey): string {
  return Buffer.from(JSON.stringify(key)).toString("base64url");
}

export function decodePageToken(v: Violations, field: string, token: string): PageKey | undefined {
  if (token === "") return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as unknown;
    if (
      parsed &&
      typeof parsed === "object" &&
      typeof (parsed as PageKey).k === "string" &&
      typeof (parsed as PageKey).u === "string"
    )
      return parsed as PageKey;
  } catch {
    // fall through
  }
  v.add(field, "PAGE_TOKEN_INVALID", "is not a token returned by this list");
  return undefined;
}

/** Splits one extra fetched row off a page and makes the next token from the last item. */
export function pageOf<T>(
  rows: T[],
  pageSize: number,
  key: (row: T) => PageKey,
): { items: T[]; nextPageToken: string } {
  if (rows.length <= pageSize) return { items: rows, nextPageToken: "" };
  const items = rows.slice(0, pageSize);
  const last = items[items.length - 1];
  return { items, nextPageToken: last ? encodePageToken(key(last)) : "" };
}

/**
 * Options shared by many commands, declared once so every command spells them the same way, and
 * the paging behind `--limit`: lists follow page tokens until the limit (default 1000), so a
 * command shows everything a person expects without the caller handling pages.
 */
import type { Command } from "commander";
import { count } from "./parse.js";

/** Adds `--request-id` to a mutation. */
export function withRequestId(cmd: Command): Command {
  return cmd.option(
    "--request-id <id>",
    "idempotency key: a retry with the same id returns the first result (default: a new one per run)",
  );
}

/** Adds `--limit` to a list command. */
export function withLimit(cmd: Command): Command {
  return cmd.option(
    "--limit <n>",
    `collect at most this many items, following pages (default ${DEFAULT_LIST_LIMIT})`,
    (v) => count(v, "--limit"),
  );
}

/** The --limit value or its default. */
export function limitOf(options: { limit?: number }): number {
  return options.limit ?? DEFAULT_LIST_LIMIT;
}

/** Items a list command collects unless --limit says otherwise. */
export const DEFAULT_LIST_LIMIT = 1000;

/** The largest page the API accepts (MAX_PAGE_SIZE on the server). */
const MAX_PAGE = 1000;

/** Calls `page(pageSize, pageToken)` until the limit is reached or there are no more pages. */
export async function collectPages<T>(
  limit: number,
  page: (pageSize: number, pageToken: string) => Promise<{ items: T[]; nextPageToken: string }>,
): Promise<T[]> {
  const out: T[] = [];
  let token = "";
  while (out.length < limit) {
    const { items, nextPageToken } = await page(Math.min(MAX_PAGE, limit - out.length), token);
    out.push(...items.slice(0, limit - out.length));
    if (!nextPageToken || items.length === 0) break;
    token = nextPageToken;
  }
  return out;
}

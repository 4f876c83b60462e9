/**
 * What the remote directories (a part asking another part over gRPC on the caller's behalf)
 * share: the caller's own token on each call, NOT_FOUND read as absent, and batch lookups.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { Caller } from "./caller.js";

/** Call options that forward the caller's token, so the remote side applies its own rules. */
export function asCaller(caller: Caller): { headers: Record<string, string> } {
  return { headers: { authorization: `Bearer ${caller.token}` } };
}

/** The lookup's answer, or undefined if the remote side answers NOT_FOUND. */
export async function unlessNotFound<T>(lookup: Promise<T>): Promise<T | undefined> {
  try {
    return await lookup;
  } catch (err) {
    if (ConnectError.from(err).code === Code.NotFound) return undefined;
    throw err;
  }
}

/** Looks up each distinct UUID at once; the ones found, by UUID. */
export async function findEach<T extends { uuid: string }>(
  uuids: readonly string[],
  find: (uuid: string) => Promise<T | undefined>,
): Promise<Map<string, T>> {
  const found: (T | undefined)[] = await Promise.all([...new Set(uuids)].map(find));
  return new Map(found.filter((x): x is T => x !== undefined).map((x) => [x.uuid, x]));
}

/**
 * The HTTP plumbing of the Redfish emulator: reading a JSON body, answering with Redfish's
 * headers, and the error that becomes a Redfish error body with its status code.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

/** A JSON object as the emulator reads and writes it. */
export type Json = Record<string, unknown>;

/** A failure answered with a Redfish error body. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly messageId: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** What a route answers: a status, maybe a body, maybe headers. */
export interface Answer {
  status: number;
  body?: object;
  headers?: Record<string, string>;
}

/** 200 with `body`. */
export function ok(body: object): Answer {
  return { status: 200, body };
}

/** The 400 of a property value outside its allowable values. */
export function notInList(key: string, value: unknown) {
  return new HttpError(
    400,
    "PropertyValueNotInList",
    `${String(value)} is not an allowed value of ${key}`,
  );
}

/** The request body as a JSON object ({} when empty); 400 MalformedJSON otherwise. */
export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = "";
  for await (const chunk of req) text += chunk;
  if (text.trim() === "") return {};
  try {
    const value = JSON.parse(text);
    if (value && typeof value === "object" && !Array.isArray(value)) return value;
  } catch {
    // answered below
  }
  throw new HttpError(400, "MalformedJSON", "The request body is not a JSON object");
}

/** Writes an answer with the OData-Version header every Redfish response carries. */
export function send(
  res: ServerResponse,
  status: number,
  body?: object,
  headers: Record<string, string> = {},
) {
  res.writeHead(status, {
    "OData-Version": "4.0",
    ...(body ? { "Content-Type": "application/json; charset=utf-8" } : {}),
    ...headers,
  });
  res.end(body ? JSON.stringify(body) : undefined);
}

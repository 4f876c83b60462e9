/**
 * What the grpc-js transport needs on both sides of a call (src/client/grpcjs-transport.ts,
 * src/platform/grpcjs-adapter.ts): Headers (connect-es) ↔ grpc-js Metadata, and bytes as a
 * Buffer. `-bin` values travel as
 * bytes in Metadata and as base64 in Headers, which joins repeated values with ", ".
 */
import * as grpc from "@grpc/grpc-js";

/** Metadata holding every header except the `skip`ped ones (those grpc-js writes itself). */
export function metadataFromHeaders(headers: Headers, skip: ReadonlySet<string>): grpc.Metadata {
  const metadata = new grpc.Metadata();
  headers.forEach((value, key) => {
    if (skip.has(key)) return;
    if (key.endsWith("-bin")) {
      for (const part of value.split(",")) metadata.add(key, Buffer.from(part.trim(), "base64"));
    } else metadata.add(key, value);
  });
  return metadata;
}

/** Appends every metadata value to `headers` (a new Headers by default) and returns it. */
export function headersFromMetadata(metadata: grpc.Metadata, headers = new Headers()): Headers {
  for (const [key, values] of Object.entries(metadata.toJSON())) {
    for (const value of values as (string | Buffer)[])
      headers.append(key, typeof value === "string" ? value : value.toString("base64"));
  }
  return headers;
}

/** The same bytes as a Buffer (what grpc-js serializers return), without copying them. */
export const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

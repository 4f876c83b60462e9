/**
 * Streams a file as an HTTP response with its Content-Length, and honours a single
 * `Range: bytes=a-b` request (206) so an interrupted download can resume (busybox `wget -c`,
 * iPXE). The agent's kernel, initrd and image blobs all go out through here.
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";

/** Sends `path` (or the requested byte range of it); 404 if it does not exist. */
export async function sendFile(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  contentType = "application/octet-stream",
): Promise<void> {
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new Error("not a file");
    size = s.size;
  } catch {
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    return;
  }
  const range = parseRange(req.headers.range, size);
  if (range === "unsatisfiable") {
    res.writeHead(416, { "content-range": `bytes */${size}` }).end();
    return;
  }
  const [start, end] = range ?? [0, size - 1];
  const headers = {
    "content-type": contentType,
    "content-length": String(size === 0 ? 0 : end - start + 1),
    "accept-ranges": "bytes",
    ...(range ? { "content-range": `bytes ${start}-${end}/${size}` } : {}),
  };
  res.writeHead(range ? 206 : 200, headers);
  if (req.method === "HEAD" || size === 0) {
    res.end();
    return;
  }
  const stream = createReadStream(path, { start, end });
  stream.on("error", () => res.destroy());
  res.on("close", () => stream.destroy());
  stream.pipe(res);
}

/** [start, end] (inclusive) of a single-range header, undefined for none or an unusable one. */
export function parseRange(
  header: string | undefined,
  size: number,
): [number, number] | "unsatisfiable" | undefined {
  const m = header?.match(/^bytes=(\d*)-(\d*)$/);
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  let start: number;
  let end: number;
  if (m[1] === "") {
    // "bytes=-N": the last N bytes.
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return "unsatisfiable";
  return [start, end];
}

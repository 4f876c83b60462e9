/** Progress lines on stderr (stdout is reserved for the result), with seconds since start. */
import { performance } from "node:perf_hooks";

const t0 = performance.now();

export function progress(message: string): void {
  const s = ((performance.now() - t0) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[${s}s] ${message}\n`);
}

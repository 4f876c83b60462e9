/**
 * Measuring and printing: a latency recorder, a closed-loop concurrent runner and a plain-text
 * table for the human summaries.
 *
 * API (stable; bench/placement/** imports it):
 *   new LatencyRecorder(); rec.add(ms); rec.summary() → { n, p50_ms, p99_ms, mean_ms, max_ms }
 *   runConcurrent(concurrency, { count? | durationMs?, warmup? }, fn) → RunResult
 *     `concurrency` workers call `fn(ctl)` back to back until `count` calls were started in all
 *     or `durationMs` has passed (whichever is given; both = whichever comes first), or until a
 *     call invokes ctl.stop(). The first `warmup` calls (default 0) are not recorded. A call
 *     that invoked ctl.stop() is not recorded either (it is the end marker, e.g. "fleet full").
 *     A call that throws ends the run and runConcurrent rejects with that error.
 *     RunResult = { n, p50_ms, p99_ms, mean_ms, max_ms, qps, elapsed_s } (qps = n / elapsed_s).
 *   timed(fn) → { ms, value }            one call, timed
 *   formatTable(headers, rows) → string  columns padded, numbers right-aligned
 *   round(x, digits = 2)
 */
import { performance } from "node:perf_hooks";

export interface LatencySummary {
  n: number;
  p50_ms: number;
  p99_ms: number;
  mean_ms: number;
  max_ms: number;
}

export interface RunResult extends LatencySummary {
  qps: number;
  elapsed_s: number;
}

/** Rounds to `digits` decimals (for JSON output). */
export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Collects call latencies in milliseconds. */
export class LatencyRecorder {
  private readonly samples: number[] = [];

  add(ms: number): void {
    this.samples.push(ms);
  }

  get n(): number {
    return this.samples.length;
  }

  summary(): LatencySummary {
    const sorted = [...this.samples].sort((a, b) => a - b);
    const n = sorted.length;
    const sum = sorted.reduce((a, b) => a + b, 0);
    return {
      n,
      p50_ms: round(percentile(sorted, 50), 3),
      p99_ms: round(percentile(sorted, 99), 3),
      mean_ms: round(n ? sum / n : 0, 3),
      max_ms: round(sorted[n - 1] ?? 0, 3),
    };
  }
}

/** Nearest-rank percentile of an ascending array (0 when empty). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? 0;
}

/** What a call of runConcurrent's `fn` gets: its worker number, its call number, and stop(). */
export interface RunControl {
  worker: number;
  /** 0-based number of this call among all calls of the run (warm-up included). */
  seq: number;
  /** Ends the run: no new calls start, and this call is not recorded. */
  stop(): void;
}

export interface RunLimit {
  /** Calls to start in all (warm-up included). */
  count?: number;
  /** Time after which no new call starts (measured from the end of warm-up). */
  durationMs?: number;
  /** Calls made first and not recorded. */
  warmup?: number;
}

/** Runs `fn` on `concurrency` workers in a closed loop; see the file header. */
export async function runConcurrent(
  concurrency: number,
  limit: RunLimit,
  fn: (ctl: RunControl) => Promise<unknown>,
): Promise<RunResult> {
  if (limit.count === undefined && limit.durationMs === undefined)
    throw new Error("runConcurrent: give count or durationMs");
  const warmup = limit.warmup ?? 0;
  const recorder = new LatencyRecorder();
  let started = 0;
  let stopped = false;
  let failure: unknown;
  let measureFrom = warmup === 0 ? performance.now() : Number.NaN;
  let measureTo = Number.NaN;
  let warmLeft = warmup;
  const ended = () =>
    stopped ||
    failure !== undefined ||
    (limit.count !== undefined && started >= limit.count) ||
    (limit.durationMs !== undefined &&
      !Number.isNaN(measureFrom) &&
      performance.now() - measureFrom >= limit.durationMs);

  const worker = async (id: number) => {
    while (!ended()) {
      const seq = started++;
      const warm = seq < warmup;
      let stopHere = false;
      const t0 = performance.now();
      try {
        await fn({
          worker: id,
          seq,
          stop: () => {
            stopHere = true;
            stopped = true;
          },
        });
      } catch (err) {
        failure ??= err;
        return;
      }
      const t1 = performance.now();
      if (warm) {
        warmLeft -= 1;
        if (warmLeft === 0) measureFrom = t1;
      } else if (!stopHere) {
        recorder.add(t1 - t0);
        measureTo = t1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
  if (failure !== undefined) throw failure;
  const summary = recorder.summary();
  const elapsed = (measureTo - measureFrom) / 1000;
  const elapsed_s = Number.isFinite(elapsed) && elapsed > 0 ? elapsed : 0;
  return {
    ...summary,
    qps: elapsed_s > 0 ? round(summary.n / elapsed_s, 1) : 0,
    elapsed_s: round(elapsed_s, 3),
  };
}

/** Runs `fn` once and returns its value with the time it took. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

/** A plain-text table: a header row, a rule, then the rows; numbers right-aligned. */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly (string | number | boolean | null | undefined)[])[],
): string {
  const cells = rows.map((r) => headers.map((_, i) => cellText(r[i])));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]?.length ?? 0)));
  const numeric = headers.map((_, i) =>
    rows.every((r) => typeof r[i] === "number" || r[i] == null),
  );
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)].join(
    "\n",
  );
}

function cellText(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined) return "-";
  return String(v);
}

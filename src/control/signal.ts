/**
 * A wake-up signal inside one process: waiters (the scheduler, lease long-polls, machine
 * watchers) sleep until something changed or their timeout passes. Other replicas' changes are
 * found by the same waiters' periodic re-reads, so a missed wake-up only costs latency.
 */
export class Signal {
  private waiters = new Set<() => void>();

  /** Wakes every current waiter. */
  notify(): void {
    const woken = this.waiters;
    this.waiters = new Set();
    for (const w of woken) w();
  }

  /** Resolves at the next notify(), after `ms`, or when `signal` aborts. */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }
}

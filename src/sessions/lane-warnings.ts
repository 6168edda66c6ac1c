/**
 * "One warning per lane per minute": when each session's lane was last reported. Lanes come
 * and go with their requests, so the times are kept apart from them, in a map bounded both
 * by age (entries older than the interval are dropped) and by size (the oldest go first).
 */
export class LaneWarnings {
  readonly #intervalMs: number;
  readonly #maxEntries: number;
  /** Insertion order is report order: the oldest report is first. */
  readonly #lastReport = new Map<string, number>();

  constructor(intervalMs = 60_000, maxEntries = 1024) {
    this.#intervalMs = intervalMs;
    this.#maxEntries = maxEntries;
  }

  /** True when `hash` may be reported now (and records that it was). */
  shouldReport(hash: string, now: number): boolean {
    this.#forgetOld(now);
    const last = this.#lastReport.get(hash);
    if (last !== undefined && now - last < this.#intervalMs) return false;
    this.#lastReport.delete(hash);
    if (this.#lastReport.size >= this.#maxEntries) {
      const oldest = this.#lastReport.keys().next().value;
      if (oldest !== undefined) this.#lastReport.delete(oldest);
    }
    this.#lastReport.set(hash, now);
    return true;
  }

  get size(): number {
    return this.#lastReport.size;
  }

  #forgetOld(now: number): void {
    for (const [hash, at] of this.#lastReport) {
      if (now - at < this.#intervalMs) return;
      this.#lastReport.delete(hash);
    }
  }
}

/** A front whose admitted requests are counted until each has ended. */
export interface CountsRequests {
  readonly activeRequests: number;
}

/**
 * Requests in flight across the fronts, and a wait until the last one has ended: the fronts
 * report each end (`ended`), as undici's pool emits `drain`, so a graceful stop waits on an
 * event rather than asking again and again.
 */
export class InFlightRequests {
  readonly #fronts: CountsRequests[] = [];
  #idleWaiters: Array<() => void> = [];

  /** Counts a front's requests too (the fronts start one after the other). */
  add(front: CountsRequests): void {
    this.#fronts.push(front);
  }

  get active(): number {
    let active = 0;
    for (const front of this.#fronts) active += front.activeRequests;
    return active;
  }

  /** A request ended: with an outcome, or removed before it had one (aborted in its params). */
  readonly ended = (): void => {
    if (this.#idleWaiters.length === 0 || this.active > 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const wake of waiters) wake();
  };

  /** Resolves once no front has a request in flight: at once when none has. */
  untilIdle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }
}

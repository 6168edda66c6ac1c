import type { Exchange } from '../request/exchange.js';

/** A request waiting in its session's lane, with the timer that bounds its wait. */
export interface LaneWaiter {
  readonly exchange: Exchange;
  /** Date.now() when it entered the lane. */
  readonly since: number;
  readonly timer: NodeJS.Timeout;
}

/**
 * One session's requests: how many are past the lane (in the admission queue or a worker)
 * and, in arrival order, the ones waiting for their turn. A lane lives only while it holds
 * one or the other; the lanes' owner deletes it when it is empty.
 */
export class SessionLane {
  readonly hash: string;
  /** Requests of this session that left the lane and are not done yet. */
  admitted = 0;
  readonly waiting: LaneWaiter[] = [];

  constructor(hash: string) {
    this.hash = hash;
  }

  get empty(): boolean {
    return this.admitted === 0 && this.waiting.length === 0;
  }

  /** Milliseconds the oldest waiter has waited, 0 when none waits. */
  oldestWaitMs(now: number): number {
    const first = this.waiting[0];
    return first === undefined ? 0 : now - first.since;
  }

  /** Takes `exchange` out of the waiting line; its waiter, or null when it was not there. */
  remove(exchange: Exchange): LaneWaiter | null {
    const at = this.waiting.findIndex((waiter) => waiter.exchange === exchange);
    if (at === -1) return null;
    const [waiter] = this.waiting.splice(at, 1);
    return waiter ?? null;
  }
}

import type { Logger } from 'pino';
import { BalancerError } from '../request/balancer-error.js';
import type { Dispatcher, Exchange } from '../request/exchange.js';
import { LaneWarnings } from './lane-warnings.js';
import { SessionHasher } from './session-hasher.js';
import { type SessionKeySources, sessionKeyOf } from './session-key.js';
import { type LaneWaiter, SessionLane } from './session-lane.js';

export interface SessionLanesOptions extends SessionKeySources {
  /** Requests of one session past its lane at once; 0: no lanes, sessions are only tagged. */
  readonly perSession: number;
  readonly laneQueue: number;
  readonly laneTimeoutMs: number;
  readonly maxWaiting: number;
  readonly warnLane: number;
  readonly logger: Logger;
  readonly hasher?: SessionHasher;
  readonly now?: () => number;
}

/** What `status` shows of the lanes. Hashes only: session ids are secrets. */
export interface LanesSnapshot {
  /** Sessions with a request past their lane or waiting in it. */
  readonly lanes: number;
  /** Requests waiting in lanes. */
  readonly waiting: number;
  /** The lane with the most waiting requests, or null when none waits. */
  readonly longest: {
    /** The session's keyed hash (12 hex digits), never its id. */
    readonly session: string;
    readonly waiting: number;
    readonly oldestWaitMs: number;
  } | null;
}

const COOKIE = 'HTTP_COOKIE';
const QUERY = 'QUERY_STRING';
const SOURCE_PARAMS = [COOKIE, QUERY] as const;

/**
 * Session lanes, between the fronts and the balancer: PHP locks a session for a whole
 * request, so a session's second request in a worker only waits there, holding the worker.
 * Here it waits in its session's lane instead, holding nothing, and goes on to the balancer
 * (admission queue, capacity, serving release) when one of its session's requests is done.
 * Requests without a session pass straight through. Every request with a session is tagged
 * (a keyed hash), which affinity and logs use.
 */
export class SessionLanes implements Dispatcher {
  readonly #next: Dispatcher;
  readonly #options: SessionLanesOptions;
  readonly #hasher: SessionHasher;
  readonly #now: () => number;
  readonly #lanes = new Map<string, SessionLane>();
  /** Requests past their lane and not done, with the lane they count against. */
  readonly #admitted = new Map<Exchange, SessionLane>();
  /** Requests waiting in a lane. */
  readonly #waiting = new Map<Exchange, SessionLane>();
  readonly #warnings = new LaneWarnings();
  /** Lanes with room to let a waiter through, while #releaseWaiters runs. */
  readonly #toAdvance = new Set<SessionLane>();
  #advancing = false;

  constructor(next: Dispatcher, options: SessionLanesOptions) {
    this.#next = next;
    this.#options = options;
    this.#hasher = options.hasher ?? new SessionHasher();
    this.#now = options.now ?? Date.now;
  }

  dispatch(exchange: Exchange): void {
    const [cookie, query] = exchange.params.values(SOURCE_PARAMS);
    const key = sessionKeyOf(cookie, query, this.#options);
    if (key === null) {
      this.#next.dispatch(exchange);
      return;
    }
    const tag = this.#hasher.tag(key);
    exchange.session = tag;
    if (this.#options.perSession === 0) {
      this.#next.dispatch(exchange);
      return;
    }
    let lane = this.#lanes.get(tag.hash);
    if (lane === undefined) {
      lane = new SessionLane(tag.hash);
      this.#lanes.set(tag.hash, lane);
    }
    if (lane.waiting.length === 0 && lane.admitted < this.#options.perSession) {
      this.#admit(lane, exchange);
      return;
    }
    this.#enqueue(lane, exchange);
  }

  /** A retry keeps the place its session gave it: it goes straight back to the balancer. */
  retry(exchange: Exchange, failedOn: string | null): void {
    this.#next.retry(exchange, failedOn);
  }

  forget(exchange: Exchange): void {
    const lane = this.#waiting.get(exchange);
    if (lane === undefined) {
      this.#next.forget(exchange);
      return;
    }
    this.#unwait(lane, exchange);
    this.#dropIfEmpty(lane);
  }

  finished(exchange: Exchange): void {
    this.#next.finished(exchange);
    const lane = this.#admitted.get(exchange);
    if (lane === undefined) return;
    this.#admitted.delete(exchange);
    lane.admitted -= 1;
    this.#releaseWaiters(lane);
  }

  snapshot(): LanesSnapshot {
    const now = this.#now();
    let longest: SessionLane | null = null;
    for (const lane of this.#lanes.values()) {
      if (lane.waiting.length > (longest?.waiting.length ?? 0)) longest = lane;
    }
    return {
      lanes: this.#lanes.size,
      waiting: this.#waiting.size,
      longest:
        longest === null
          ? null
          : {
              session: longest.hash,
              waiting: longest.waiting.length,
              oldestWaitMs: longest.oldestWaitMs(now),
            },
    };
  }

  #admit(lane: SessionLane, exchange: Exchange): void {
    // Counted before the balancer sees it: it may answer at once (503), which ends here.
    lane.admitted += 1;
    this.#admitted.set(exchange, lane);
    this.#next.dispatch(exchange);
  }

  #enqueue(lane: SessionLane, exchange: Exchange): void {
    const { laneQueue, maxWaiting, laneTimeoutMs } = this.#options;
    if (lane.waiting.length >= laneQueue) {
      exchange.reject(
        new BalancerError(
          'ERR_LANE_FULL',
          `${lane.waiting.length} requests of this session already wait for their turn`,
        ),
      );
      return;
    }
    if (this.#waiting.size >= maxWaiting) {
      this.#dropIfEmpty(lane);
      exchange.reject(
        new BalancerError('ERR_LANES_FULL', `${maxWaiting} requests already wait in session lanes`),
      );
      return;
    }
    const since = this.#now();
    const timer = setTimeout(() => this.#timedOut(lane, exchange), laneTimeoutMs);
    lane.waiting.push({ exchange, since, timer });
    this.#waiting.set(exchange, lane);
    if (
      lane.waiting.length > this.#options.warnLane &&
      this.#warnings.shouldReport(lane.hash, since)
    ) {
      this.#options.logger.warn(
        {
          session: lane.hash,
          waiting: lane.waiting.length,
          oldestWaitMs: lane.oldestWaitMs(since),
        },
        `session ${lane.hash}… has ${lane.waiting.length} requests waiting: one PHP session lock serialises them`,
      );
    }
  }

  #timedOut(lane: SessionLane, exchange: Exchange): void {
    if (this.#unwait(lane, exchange) === null) return;
    this.#dropIfEmpty(lane);
    exchange.reject(
      new BalancerError(
        'ERR_LANE_TIMEOUT',
        `waited ${this.#options.laneTimeoutMs} ms behind earlier requests of the same session`,
      ),
    );
  }

  /**
   * Lets waiters through. The balancer may answer a waiter at once (its queue is full, no
   * replica is ready), which finishes it and lands here again: that call only notes the lane,
   * and the outer one goes on, so a long lane is a loop, not a recursion as deep as the lane.
   */
  #releaseWaiters(lane: SessionLane): void {
    this.#toAdvance.add(lane);
    if (this.#advancing) return;
    this.#advancing = true;
    try {
      // A Set visits what is added while it is iterated: lanes noted by nested calls too.
      for (const next of this.#toAdvance) {
        this.#toAdvance.delete(next);
        this.#advance(next);
      }
    } finally {
      this.#advancing = false;
    }
  }

  /** Lets waiters through while the session has room; drops the lane once it is empty. */
  #advance(lane: SessionLane): void {
    while (lane.admitted < this.#options.perSession) {
      const waiter = lane.waiting.shift();
      if (waiter === undefined) break;
      clearTimeout(waiter.timer);
      this.#waiting.delete(waiter.exchange);
      this.#admit(lane, waiter.exchange);
    }
    this.#dropIfEmpty(lane);
  }

  #unwait(lane: SessionLane, exchange: Exchange): LaneWaiter | null {
    const waiter = lane.remove(exchange);
    if (waiter === null) return null;
    clearTimeout(waiter.timer);
    this.#waiting.delete(exchange);
    return waiter;
  }

  #dropIfEmpty(lane: SessionLane): void {
    if (lane.empty && this.#lanes.get(lane.hash) === lane) this.#lanes.delete(lane.hash);
  }
}

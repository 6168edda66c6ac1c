import type { ReplicaPool, SlotRequest } from '../balancer/replica-pool.js';
import type { Exchange } from '../request/exchange.js';

/** `[watchdog]` as the supervisor applies it. */
export interface StuckSettings {
  /** A request running on a worker longer than this counts as stuck. */
  readonly stuckAfterMs: number;
  /** Stuck slots that get a replica replaced; 'all' is its capacity. */
  readonly stuckWorkers: number | 'all';
}

/** `[watchdog]`'s defaults, as the supervisor applies them. */
export const DEFAULT_STUCK_SETTINGS: StuckSettings = { stuckAfterMs: 60_000, stuckWorkers: 'all' };

/** What one look at a replica's slots found; only sent when something is (or was) stuck. */
export interface StuckReport {
  /** Every slot whose request runs past `stuckAfterMs`, or that was given up, oldest first. */
  readonly stuck: readonly SlotRequest[];
  /** Those not reported before: each gets its diagnosis line once. */
  readonly fresh: readonly SlotRequest[];
  /** `stuckWorkers` of its slots are stuck: the replica is to be replaced. */
  readonly replicaStuck: boolean;
}

/** Between looks: a quarter of `stuck_after`, within [250 ms, 5 s]. */
export function lookIntervalMs(stuckAfterMs: number): number {
  return Math.min(5_000, Math.max(250, Math.floor(stuckAfterMs / 4)));
}

/** The slots counted stuck at `now`, oldest first. */
export function stuckRequests(
  requests: readonly SlotRequest[],
  now: number,
  stuckAfterMs: number,
): SlotRequest[] {
  return requests
    .filter((request) => request.held === 'stuck' || now - request.startedAt >= stuckAfterMs)
    .sort((a, b) => a.startedAt - b.startedAt);
}

/** How many stuck slots make a replica stuck: `stuck_workers`, at most its capacity. */
export function stuckThreshold(settings: StuckSettings, capacity: number): number {
  return settings.stuckWorkers === 'all' ? capacity : Math.min(settings.stuckWorkers, capacity);
}

/**
 * Looks at one ready replica's slots every `lookIntervalMs` and reports what is stuck, as
 * events: what to do about it (a diagnosis, a replacement) is the supervisor's and the
 * planner's decision, as with health results. A request is stuck whether its client still
 * waits or left: either way the worker is not free.
 */
export class StuckWatch {
  readonly #pool: ReplicaPool;
  readonly #settings: StuckSettings;
  readonly #report: (report: StuckReport) => void;
  /** Requests already reported stuck. */
  readonly #reported = new WeakSet<Exchange>();
  #timer: NodeJS.Timeout | null = null;
  #wasStuck = false;

  constructor(pool: ReplicaPool, settings: StuckSettings, report: (report: StuckReport) => void) {
    this.#pool = pool;
    this.#settings = settings;
    this.#report = report;
  }

  start(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => this.look(), lookIntervalMs(this.#settings.stuckAfterMs));
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** One look now (the timer's, or a test's). */
  look(now = Date.now()): void {
    const stuck = stuckRequests(this.#pool.slotRequests(), now, this.#settings.stuckAfterMs);
    if (stuck.length === 0 && !this.#wasStuck) return;
    this.#wasStuck = stuck.length > 0;
    const fresh = stuck.filter((request) => !this.#reported.has(request.exchange));
    for (const request of fresh) this.#reported.add(request.exchange);
    const threshold = stuckThreshold(this.#settings, this.#pool.spec.capacity);
    this.#report({ stuck, fresh, replicaStuck: stuck.length >= threshold });
  }
}

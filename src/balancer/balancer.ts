import type { Logger } from 'pino';
import { probeReplica } from '../fastcgi-client/liveness-probe.js';
import { BalancerError } from '../request/balancer-error.js';
import type { Dispatcher, Exchange } from '../request/exchange.js';
import type { SessionTag } from '../request/session-tag.js';
import { AdmissionQueue } from './admission-queue.js';
import { affinityScore, loadBound } from './affinity.js';
import { type PoolListener, ReplicaPool, type ReplicaSpec } from './replica-pool.js';

/** `[watchdog] abandon_after`'s default: `[drain] timeout`'s. */
export const DEFAULT_ABANDON_AFTER_MS = 30_000;

/** A request in the admission queue, with what the balancer keeps of it while it waits. */
interface QueuedExchange {
  readonly exchange: Exchange;
  /** A retry's failed replica: it goes elsewhere when it can, on a fresh connection. */
  readonly failedOn: string | null;
  /** Its queue_timeout: it is answered 503 when no slot frees in time. */
  timer: NodeJS.Timeout | null;
}

export interface BalancerOptions {
  readonly queue: number;
  readonly queueTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /**
   * How long an abandoned request keeps its slot waiting for END_REQUEST (see PoolTimeouts);
   * DEFAULT_ABANDON_AFTER_MS when absent.
   */
  readonly abandonAfterMs?: number;
  /** How often an unreachable replica is probed. */
  readonly probeIntervalMs: number;
  /**
   * Session affinity: a session's requests go to one replica while it is ready and within
   * `loadFactor` times the mean load; null routes every request to the least loaded.
   */
  readonly affinity?: { readonly loadFactor: number } | null;
  readonly logger: Logger;
}

/**
 * The toggle balancer: routes each admitted request to a ready replica of the serving
 * release with the fewest requests in flight, or queues it (bounded, with a timeout) when
 * all are full. The supervisor changes routing only through `add`, `drain`, `remove` and
 * `setServingRelease`; the data plane never waits on it.
 */
export class Balancer implements Dispatcher, PoolListener {
  readonly #options: BalancerOptions;
  readonly #pools = new Map<string, ReplicaPool>();
  /** The same pools as an array, rebuilt on add and remove: the pick loop runs per request. */
  #poolList: ReplicaPool[] = [];
  readonly #queue: AdmissionQueue<QueuedExchange>;
  readonly #probes = new Map<string, NodeJS.Timeout>();
  #servingRelease: string | null = null;
  /** Where the least-loaded scan starts, so ties rotate instead of piling on the first. */
  #cursor = 0;

  constructor(options: BalancerOptions) {
    this.#options = options;
    this.#queue = new AdmissionQueue(options.queue);
  }

  get servingRelease(): string | null {
    return this.#servingRelease;
  }

  get queued(): number {
    return this.#queue.length;
  }

  pools(): readonly ReplicaPool[] {
    return this.#poolList;
  }

  add(spec: ReplicaSpec): ReplicaPool {
    if (this.#pools.has(spec.id)) throw new Error(`replica ${spec.id} is already in the balancer`);
    const pool = new ReplicaPool(spec, this, {
      idleMs: this.#options.idleTimeoutMs,
      connectMs: this.#options.connectTimeoutMs,
      abandonAfterMs: this.#options.abandonAfterMs ?? DEFAULT_ABANDON_AFTER_MS,
    });
    this.#pools.set(spec.id, pool);
    this.#poolList = [...this.#pools.values()];
    this.#servingRelease ??= spec.release;
    this.#drainQueue();
    return pool;
  }

  /** Stops routing to the replica; resolves when its in-flight requests are done. */
  drain(id: string): Promise<void> {
    const pool = this.#require(id);
    this.#stopProbe(id);
    pool.setRouting('draining');
    return pool.drained();
  }

  remove(id: string): void {
    const pool = this.#require(id);
    this.#stopProbe(id);
    pool.setRouting('removed');
    this.#pools.delete(id);
    this.#poolList = [...this.#pools.values()];
  }

  /** The toggle: from now on new requests go only to replicas of `release`. */
  setServingRelease(release: string): void {
    this.#servingRelease = release;
    this.#drainQueue();
  }

  dispatch(exchange: Exchange): void {
    const pool = this.#pick(null, exchange.session);
    if (pool !== null) {
      pool.run(exchange, false);
      return;
    }
    if (!this.#anyRoutable()) {
      exchange.reject(new BalancerError('ERR_NO_READY_REPLICA', 'no replica is ready to serve'));
      return;
    }
    if (this.#queue.full) {
      exchange.reject(
        new BalancerError(
          'ERR_QUEUE_FULL',
          `all replicas are busy and ${this.#options.queue} requests wait`,
        ),
      );
      return;
    }
    const entry: QueuedExchange = { exchange, failedOn: null, timer: null };
    this.#queue.push(entry);
    this.#startQueueTimer(entry);
  }

  retry(exchange: Exchange, failedOn: string | null): void {
    const pool = this.#pickFor(failedOn, exchange.session);
    if (pool !== null) {
      pool.run(exchange, true);
      return;
    }
    if (!this.#anyRoutable()) {
      exchange.reject(
        new BalancerError('ERR_BACKEND_FAILED', 'the replica failed and no other is ready'),
      );
      return;
    }
    const entry: QueuedExchange = { exchange, failedOn, timer: null };
    this.#queue.unshift(entry);
    this.#startQueueTimer(entry);
  }

  forget(exchange: Exchange): void {
    for (let i = 0; i < this.#queue.length; i += 1) {
      const entry = this.#queue.at(i) as QueuedExchange;
      if (entry.exchange !== exchange) continue;
      this.#queue.removeAt(i);
      if (entry.timer !== null) clearTimeout(entry.timer);
      return;
    }
  }

  /** Nothing to release: a pool frees its slot when its connection is done. */
  finished(_exchange: Exchange): void {}

  slotFreed(): void {
    this.#drainQueue();
  }

  unreachable(pool: ReplicaPool, error: Error): void {
    this.#options.logger.warn(
      { replica: pool.id, err: error.message },
      'replica unreachable: out of rotation until it answers again',
    );
    this.#startProbe(pool);
  }

  /** Stops probes and closes idle connections; in-flight requests are left to finish. */
  close(): void {
    for (const id of [...this.#probes.keys()]) this.#stopProbe(id);
    for (const pool of this.#pools.values()) pool.closeIdle();
  }

  #pick(avoid: string | null = null, session: SessionTag | null = null): ReplicaPool | null {
    if (session !== null && this.#options.affinity != null) {
      const affine = this.#pickAffine(session, avoid, this.#options.affinity.loadFactor);
      if (affine !== null) return affine;
    }
    const pools = this.#poolList;
    let best: ReplicaPool | null = null;
    for (let i = 0; i < pools.length; i += 1) {
      const pool = pools[(this.#cursor + i) % pools.length] as ReplicaPool;
      if (!pool.hasFreeSlot || pool.spec.release !== this.#servingRelease) continue;
      if (pool.id === avoid) continue;
      if (best === null || pool.load < best.load) best = pool;
    }
    this.#cursor = (this.#cursor + 1) % Math.max(pools.length, 1);
    return best;
  }

  /**
   * The session's replica: the best rendezvous score among the serving release's replicas
   * with a free slot and a load within the bound. Null sends it to the least loaded.
   */
  #pickAffine(session: SessionTag, avoid: string | null, loadFactor: number): ReplicaPool | null {
    let total = 0;
    let serving = 0;
    for (const pool of this.#poolList) {
      if (pool.routing !== 'active' || pool.spec.release !== this.#servingRelease) continue;
      total += pool.load;
      serving += 1;
    }
    const bound = loadBound(total, serving, loadFactor);
    let best: ReplicaPool | null = null;
    let bestScore = -1;
    for (const pool of this.#poolList) {
      if (!pool.hasFreeSlot || pool.spec.release !== this.#servingRelease) continue;
      if (pool.id === avoid || pool.load + 1 > bound) continue;
      const score = affinityScore(session.point, pool.affinitySeed);
      if (score > bestScore) {
        best = pool;
        bestScore = score;
      }
    }
    return best;
  }

  #anyRoutable(except: string | null = null): boolean {
    for (const pool of this.#poolList) {
      if (pool.id === except) continue;
      if (pool.routing === 'active' && pool.spec.release === this.#servingRelease) return true;
    }
    return false;
  }

  #drainQueue(): void {
    // A retry that waits for another replica than the one that failed does not hold up the
    // requests behind it: they may take the free slots it will not.
    let skipped = 0;
    while (this.#queue.length > skipped) {
      const entry = this.#queue.at(skipped) as QueuedExchange;
      const pool = this.#pickFor(entry.failedOn, entry.exchange.session);
      if (pool === null) {
        if (this.#pick() === null) return;
        skipped += 1;
        continue;
      }
      this.#queue.removeAt(skipped);
      if (entry.timer !== null) clearTimeout(entry.timer);
      entry.timer = null;
      pool.run(entry.exchange, entry.failedOn !== null);
    }
  }

  /**
   * A retry goes to another replica, even if that means waiting for its slot: the one that
   * failed may be dying (a killed master's socket accepts for a moment after its workers are
   * gone), and its freed slots make it look the least loaded. It is used again only when no
   * other replica is in rotation.
   */
  #pickFor(failed: string | null, session: SessionTag | null): ReplicaPool | null {
    if (failed !== null && this.#anyRoutable(failed)) return this.#pick(failed, session);
    return this.#pick(null, session);
  }

  #startQueueTimer(entry: QueuedExchange): void {
    entry.timer = setTimeout(() => {
      entry.timer = null;
      if (!this.#queue.remove(entry)) return;
      entry.exchange.reject(
        new BalancerError(
          'ERR_QUEUE_TIMEOUT',
          `waited ${this.#options.queueTimeoutMs} ms and no replica had a free slot`,
        ),
      );
    }, this.#options.queueTimeoutMs);
  }

  #startProbe(pool: ReplicaPool): void {
    if (this.#probes.has(pool.id)) return;
    const tick = async () => {
      if (!this.#probes.has(pool.id)) return;
      const alive = await probeReplica(pool.spec.address, this.#options.probeIntervalMs);
      if (!this.#probes.has(pool.id)) return;
      if (alive && pool.routing === 'unreachable') {
        this.#stopProbe(pool.id);
        pool.setRouting('active');
        this.#options.logger.info({ replica: pool.id }, 'replica answers again: back in rotation');
        this.#drainQueue();
        return;
      }
      this.#probes.set(pool.id, setTimeout(tick, this.#options.probeIntervalMs));
    };
    this.#probes.set(pool.id, setTimeout(tick, 0));
  }

  #stopProbe(id: string): void {
    const timer = this.#probes.get(id);
    if (timer !== undefined) clearTimeout(timer);
    this.#probes.delete(id);
  }

  #require(id: string): ReplicaPool {
    const pool = this.#pools.get(id);
    if (pool === undefined) throw new Error(`no replica ${id} in the balancer`);
    return pool;
  }
}

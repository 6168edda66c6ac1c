import type { Logger } from 'pino';
import { probeReplica } from '../fastcgi-client/liveness-probe.js';
import { BalancerError } from '../request/balancer-error.js';
import type { Dispatcher, Exchange } from '../request/exchange.js';
import type { SessionTag } from '../request/session-tag.js';
import { AdmissionQueue } from './admission-queue.js';
import { affinityScore, loadBound } from './affinity.js';
import { type PoolListener, ReplicaPool, type ReplicaSpec } from './replica-pool.js';

export interface BalancerOptions {
  readonly queue: number;
  readonly queueTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly connectTimeoutMs: number;
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
  readonly #queue: AdmissionQueue<Exchange>;
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
    const pool = this.#pickFor(exchange);
    if (pool !== null) {
      pool.run(exchange, exchange.replicaId !== null);
      return;
    }
    if (!this.#anyRoutable()) {
      exchange.reject(new BalancerError('ERR_NO_READY_REPLICA', 'no replica is ready to serve'));
      return;
    }
    if (!this.#queue.push(exchange)) {
      exchange.reject(
        new BalancerError(
          'ERR_QUEUE_FULL',
          `all replicas are busy and ${this.#options.queue} requests wait`,
        ),
      );
      return;
    }
    this.#startQueueTimer(exchange);
  }

  retry(exchange: Exchange): void {
    const pool = this.#pickFor(exchange);
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
    this.#queue.unshift(exchange);
    this.#startQueueTimer(exchange);
  }

  forget(exchange: Exchange): void {
    this.#queue.remove(exchange);
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
      if (best === null || pool.inFlight < best.inFlight) best = pool;
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
      total += pool.inFlight;
      serving += 1;
    }
    const bound = loadBound(total, serving, loadFactor);
    let best: ReplicaPool | null = null;
    let bestScore = -1;
    for (const pool of this.#poolList) {
      if (!pool.hasFreeSlot || pool.spec.release !== this.#servingRelease) continue;
      if (pool.id === avoid || pool.inFlight + 1 > bound) continue;
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
      const exchange = this.#queue.at(skipped) as Exchange;
      const pool = this.#pickFor(exchange);
      if (pool === null) {
        if (this.#pick() === null) return;
        skipped += 1;
        continue;
      }
      this.#queue.removeAt(skipped);
      if (exchange.queueTimer !== null) clearTimeout(exchange.queueTimer);
      exchange.queueTimer = null;
      pool.run(exchange, exchange.replicaId !== null);
    }
  }

  /**
   * A retry goes to another replica, even if that means waiting for its slot: the one that
   * failed may be dying (a killed master's socket accepts for a moment after its workers are
   * gone), and its freed slots make it look the least loaded. It is used again only when no
   * other replica is in rotation.
   */
  #pickFor(exchange: Exchange): ReplicaPool | null {
    const failed = exchange.replicaId;
    if (failed !== null && this.#anyRoutable(failed)) return this.#pick(failed, exchange.session);
    return this.#pick(null, exchange.session);
  }

  #startQueueTimer(exchange: Exchange): void {
    exchange.queueTimer = setTimeout(() => {
      exchange.queueTimer = null;
      if (!this.#queue.remove(exchange)) return;
      exchange.reject(
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

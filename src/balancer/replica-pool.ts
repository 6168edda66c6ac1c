import type { ListenAddress } from '../config/address.js';
import {
  BackendConnection,
  type CarriedRequest,
  type ConnectionOwner,
  type HeldAtClose,
} from '../fastcgi-client/backend-connection.js';
import { BalancerError } from '../request/balancer-error.js';
import type { Exchange } from '../request/exchange.js';
import type { ReleasePinning } from '../request/release-pinning.js';
import { affinitySeed } from './affinity.js';
import { canTransition, type ReplicaRouting } from './replica-routing.js';

export interface ReplicaSpec {
  /** This incarnation in the balancer: `replica-1.3`. */
  readonly id: string;
  /**
   * The slot it fills (`replica-1`), which session affinity knows it by, so that a restarted
   * replica gets its sessions back; `id` when absent.
   */
  readonly slot?: string;
  readonly address: ListenAddress;
  /** Concurrent requests it takes: php-fpm's pm.max_children. */
  readonly capacity: number;
  /** The release directory it serves (its pinned directory). */
  readonly release: string;
  readonly pinning: ReleasePinning;
  /**
   * A header line put first in each of its responses (`X-Release: 42\r\n`, from
   * `releaseHeaderBytes`), or none.
   */
  readonly responseHeader?: Buffer | null;
  /**
   * switchyard replaces it when it is stuck (a managed replica): a slot given up on stays
   * taken until then. Otherwise (an external replica, which nothing here can replace) the
   * slot is counted free again when given up, or it would be lost for good.
   */
  readonly replaceable?: boolean;
}

export interface PoolTimeouts {
  /** Idle kept-alive connections are closed after this. */
  readonly idleMs: number;
  /** A connection not accepted within this counts as the replica being unreachable. */
  readonly connectMs: number;
  /**
   * An abandoned request (client gone, request timeout) keeps its slot until the worker's
   * END_REQUEST, at most this long; then the slot counts stuck until the replica is replaced.
   */
  readonly abandonAfterMs: number;
}

/** A slot's request as the watchdog sees it: still answering, abandoned, or given up. */
export interface SlotRequest extends CarriedRequest {
  readonly held: 'running' | 'abandoned' | 'stuck';
}

/** What a pool tells the balancer. */
export interface PoolListener {
  slotFreed(pool: ReplicaPool): void;
  unreachable(pool: ReplicaPool, error: Error): void;
}

/**
 * One replica as the data plane sees it: at most `capacity` connections, each carrying one
 * request at a time. None is opened before a request needs it; idle ones are kept for reuse
 * (an idle kept-alive connection ties up a php-fpm child) and closed after `idleTimeoutMs`
 * or when the replica drains.
 */
export class ReplicaPool implements ConnectionOwner {
  readonly spec: ReplicaSpec;
  /** Its rendezvous seed for session affinity, from its slot name. */
  readonly affinitySeed: number;
  readonly #listener: PoolListener;
  readonly #timeouts: PoolTimeouts;
  /** Most recently used last: reusing the warmest connection keeps the others closable. */
  readonly #idle: BackendConnection[] = [];
  /** Connections with a request on them, live or abandoned. */
  readonly #busy = new Set<BackendConnection>();
  /** Slots given up: an abandoned request that never ended. They stay taken for good. */
  readonly #stuck: CarriedRequest[] = [];
  #inFlight = 0;
  #abandoned = 0;
  #served = 0;
  #routing: ReplicaRouting = 'active';
  #drained: { promise: Promise<void>; resolve: () => void } | null = null;

  constructor(spec: ReplicaSpec, listener: PoolListener, timeouts: PoolTimeouts) {
    this.spec = spec;
    this.affinitySeed = affinitySeed(spec.slot ?? spec.id);
    this.#listener = listener;
    this.#timeouts = timeouts;
  }

  get id(): string {
    return this.spec.id;
  }

  get routing(): ReplicaRouting {
    return this.#routing;
  }

  /** Requests whose clients still wait for them. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Requests whose clients left while the worker still runs them. */
  get abandoned(): number {
    return this.#abandoned;
  }

  /** Slots given up on: taken until the replica is replaced. */
  get stuck(): number {
    return this.#stuck.length;
  }

  /** Slots taken, whatever by: what routing counts against the capacity. */
  get load(): number {
    return this.#inFlight + this.#abandoned + this.#stuck.length;
  }

  /** Every slot's request (running, abandoned or stuck), oldest first not guaranteed. */
  slotRequests(): SlotRequest[] {
    const requests: SlotRequest[] = this.#stuck.map((request) => ({ ...request, held: 'stuck' }));
    for (const connection of this.#busy) {
      const carried = connection.carried;
      if (carried === null) continue;
      const held = connection.state === 'abandoned' ? 'abandoned' : 'running';
      requests.push({ ...carried, held });
    }
    return requests;
  }

  get served(): number {
    return this.#served;
  }

  get idleConnections(): number {
    return this.#idle.length;
  }

  get hasFreeSlot(): boolean {
    return this.#routing === 'active' && this.load < this.spec.capacity;
  }

  /**
   * Runs `exchange` on a connection: an idle one, or a new one. A retry asks for `fresh`:
   * the idle connection it would get may be one the replica is closing right now.
   */
  run(exchange: Exchange, fresh: boolean): void {
    let params: Buffer;
    try {
      params = exchange.params.recordsFor(this.spec.pinning);
    } catch (error) {
      // A param php-fpm could not read (longer than one record): no replica can take it.
      exchange.reject(new BalancerError('ERR_BACKEND_FAILED', (error as Error).message));
      return;
    }
    this.#inFlight += 1;
    exchange.runsOn(this.spec);
    let connection = fresh ? undefined : this.#idle.pop();
    if (connection?.idleTimer) clearTimeout(connection.idleTimer);
    if (connection === undefined && this.load + this.#idle.length > this.spec.capacity) {
      // Every idle kept-alive connection holds a worker: a new connection beside them would
      // wait in the replica's backlog behind connections nobody uses. Close the coldest.
      this.#idle.shift()?.close();
    }
    connection ??= new BackendConnection(this.spec.address, this, this.#timeouts);
    this.#busy.add(connection);
    connection.run(exchange, params);
  }

  released(connection: BackendConnection): void {
    this.#inFlight -= 1;
    this.#served += 1;
    this.#keepOrClose(connection);
    this.#afterSlotFreed();
  }

  requestAbandoned(_connection: BackendConnection): void {
    // Still taken, but no client waits for it: a drain need not.
    this.#inFlight -= 1;
    this.#abandoned += 1;
    this.#checkDrained();
  }

  abandonedRequestEnded(connection: BackendConnection): void {
    this.#abandoned -= 1;
    this.#keepOrClose(connection);
    this.#afterSlotFreed();
  }

  abandonedRequestGivenUp(connection: BackendConnection, request: CarriedRequest): void {
    this.#busy.delete(connection);
    this.#abandoned -= 1;
    if (this.spec.replaceable === true) this.#stuck.push(request);
    else this.#afterSlotFreed();
  }

  closed(
    connection: BackendConnection,
    held: HeldAtClose,
    connectFailed: boolean,
    error: Error | null,
  ): void {
    const idleAt = this.#idle.indexOf(connection);
    if (idleAt >= 0) this.#idle.splice(idleAt, 1);
    this.#busy.delete(connection);
    if (held === 'nothing') return;
    if (held === 'abandoned') this.#abandoned -= 1;
    else this.#inFlight -= 1;
    if (connectFailed && this.#routing === 'active') {
      this.setRouting('unreachable');
      this.#listener.unreachable(this, error ?? new Error('connect failed'));
    }
    this.#afterSlotFreed();
  }

  setRouting(next: ReplicaRouting): void {
    if (next === this.#routing) return;
    if (!canTransition(this.#routing, next)) {
      throw new Error(`replica ${this.id} cannot go from ${this.#routing} to ${next}`);
    }
    this.#routing = next;
    if (next === 'draining' || next === 'removed') this.closeIdle();
    if (next === 'draining') this.#checkDrained();
  }

  /** Resolves when the last in-flight request is done (at once if none). */
  drained(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    if (this.#drained === null) {
      let resolve = () => {};
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.#drained = { promise, resolve };
    }
    return this.#drained.promise;
  }

  /**
   * The replica is being replaced for being stuck: the requests still on it are answered 502
   * when their workers are stopped, not retried elsewhere, where they would hang again.
   */
  refuseRetries(): void {
    for (const connection of this.#busy) connection.refuseRetry();
  }

  closeIdle(): void {
    for (const connection of this.#idle.splice(0)) connection.close();
  }

  #keepOrClose(connection: BackendConnection): void {
    this.#busy.delete(connection);
    const routable = this.#routing === 'active' || this.#routing === 'unreachable';
    if (routable && connection.reusable) {
      this.#idle.push(connection);
      connection.idleTimer = setTimeout(() => connection.close(), this.#timeouts.idleMs);
      connection.idleTimer.unref();
    } else {
      connection.close();
    }
  }

  #afterSlotFreed(): void {
    this.#checkDrained();
    this.#listener.slotFreed(this);
  }

  #checkDrained(): void {
    if (this.#inFlight === 0 && this.#drained !== null) {
      this.#drained.resolve();
      this.#drained = null;
    }
  }
}

import type { Socket } from 'node:net';

/** What the control socket lets one client hold, and for how long it may take to ask. */
export interface ControlConnectionLimits {
  /**
   * Connections held at once. When full, a newcomer closes the connection that has waited
   * longest without being served: idle and slow clients can never lock the CLI out.
   */
  readonly maxConnections: number;
  /** From connecting to the end of the request's headers. */
  readonly headersTimeoutMs: number;
  /** From the end of the headers to the end of the body. */
  readonly bodyTimeoutMs: number;
  /** From an answer to the end of the next request's headers on the same connection. */
  readonly keepAliveTimeoutMs: number;
}

export const DEFAULT_CONTROL_LIMITS: ControlConnectionLimits = {
  // The CLI opens one connection per command; this bounds what a runaway script can hold.
  maxConnections: 64,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
};

interface Tracked {
  /** Requests whose answer is not finished (more than one only when a client pipelines). */
  open: number;
  /** Of those, the ones read and being answered. */
  serving: number;
  timer: NodeJS.Timeout | null;
}

/** Why a connection was closed by the guard, for the caller's log. */
export type ShedReason = 'timeout' | 'evicted' | 'full';

/** One request on a guarded connection; each method may be called more than once. */
export interface GuardedRequest {
  /** Its body is read and the daemon answers: no deadline, and never evicted. */
  serving(): void;
  /** Its answer is finished (or abandoned). */
  done(): void;
}

/**
 * Bounds the control socket's connections. Node's own headersTimeout and requestTimeout are
 * only checked every 30 s and never closed a connection that sent nothing, and its
 * maxConnections refuses the newcomer (the CLI) rather than the idle ones: 64 idle clients
 * locked `switchyard status` out for minutes. Here every connection that is not being served
 * has a deadline, and a full table sheds its longest-waiting one. A connection being served
 * (a restart or deploy streaming its progress for minutes) has neither: it is never cut.
 */
export class ConnectionGuard {
  readonly #limits: ControlConnectionLimits;
  readonly #onShed: (reason: ShedReason) => void;
  /** In the order each began to wait, so the first one not served is the one to evict. */
  readonly #connections = new Map<Socket, Tracked>();

  constructor(limits: ControlConnectionLimits, onShed: (reason: ShedReason) => void) {
    this.#limits = limits;
    this.#onShed = onShed;
  }

  /** Number of connections held now. */
  get size(): number {
    return this.#connections.size;
  }

  /** A new connection: makes room if the table is full (or refuses it), then starts its clock. */
  admit(socket: Socket): void {
    if (this.#connections.size >= this.#limits.maxConnections && !this.#evictOldestWaiting()) {
      // Every connection is being served: only a burst of real requests gets here.
      this.#onShed('full');
      socket.destroy();
      return;
    }
    const tracked: Tracked = { open: 0, serving: 0, timer: null };
    this.#connections.set(socket, tracked);
    socket.once('close', () => {
      this.#clear(tracked);
      this.#connections.delete(socket);
    });
    this.#arm(socket, tracked, this.#limits.headersTimeoutMs);
  }

  /** A request's headers are in (Node's 'request' event): its body now has its own deadline. */
  request(socket: Socket): GuardedRequest {
    const tracked = this.#connections.get(socket);
    if (tracked === undefined) return { serving: () => {}, done: () => {} };
    tracked.open += 1;
    if (tracked.serving === 0) this.#arm(socket, tracked, this.#limits.bodyTimeoutMs);
    let state: 'reading' | 'serving' | 'done' = 'reading';
    return {
      serving: () => {
        if (state !== 'reading') return;
        state = 'serving';
        tracked.serving += 1;
        this.#clear(tracked);
      },
      done: () => {
        if (state === 'done') return;
        if (state === 'serving') tracked.serving -= 1;
        state = 'done';
        tracked.open -= 1;
        this.#afterAnswer(socket, tracked);
      },
    };
  }

  #afterAnswer(socket: Socket, tracked: Tracked): void {
    if (socket.destroyed || tracked.serving > 0) return;
    if (tracked.open > 0) {
      // A pipelined request still reading its body, now that nothing else is served.
      this.#arm(socket, tracked, this.#limits.bodyTimeoutMs);
      return;
    }
    // To the end of the order: it begins to wait now.
    this.#connections.delete(socket);
    this.#connections.set(socket, tracked);
    this.#arm(socket, tracked, this.#limits.keepAliveTimeoutMs);
  }

  #evictOldestWaiting(): boolean {
    for (const [socket, tracked] of this.#connections) {
      if (tracked.serving > 0) continue;
      this.#clear(tracked);
      // Deleted now, not on 'close', so the newcomer's slot is free at once.
      this.#connections.delete(socket);
      socket.destroy();
      this.#onShed('evicted');
      return true;
    }
    return false;
  }

  #arm(socket: Socket, tracked: Tracked, ms: number): void {
    this.#clear(tracked);
    tracked.timer = setTimeout(() => {
      tracked.timer = null;
      this.#onShed('timeout');
      socket.destroy();
    }, ms);
    // A deadline never keeps the daemon alive on its own.
    tracked.timer.unref();
  }

  #clear(tracked: Tracked): void {
    if (tracked.timer !== null) clearTimeout(tracked.timer);
    tracked.timer = null;
  }
}

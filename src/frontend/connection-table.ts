/** What the table needs to know of one client connection. */
export interface TableEntry {
  /** A request is in progress on it: it is never let go to make room or for idleness. */
  readonly busy: boolean;
  /** Date.now() of its last sign of use (a whole record, a request), or of its accept. */
  readonly lastActiveAt: number;
  /** Closes it (it is idle: nothing is lost). */
  letGo(): void;
}

/**
 * A front's open client connections, at most `limit`. At the limit, the connection idle
 * longest makes room for a newcomer, so connections that only sit there (silent, or
 * trickling bytes that never make a record or a request) cannot lock the web server out;
 * with none idle, the newcomer is refused. Connections idle for `idleMs` are let go by a
 * sweep a few times per period.
 */
export class ConnectionTable<Key, Entry extends TableEntry> {
  readonly #limit: number;
  readonly #idleMs: number;
  readonly #entries = new Map<Key, Entry>();
  #sweep: NodeJS.Timeout | null = null;

  constructor(limit: number, idleMs: number) {
    this.#limit = limit;
    this.#idleMs = idleMs;
  }

  get size(): number {
    return this.#entries.size;
  }

  values(): IterableIterator<Entry> {
    return this.#entries.values();
  }

  keys(): IterableIterator<Key> {
    return this.#entries.keys();
  }

  get(key: Key): Entry | undefined {
    return this.#entries.get(key);
  }

  /**
   * Makes room for a newcomer: false when the table is full of busy connections (refuse it);
   * `madeRoom` says whether an idle one was let go for it.
   */
  makeRoom(): { readonly admitted: boolean; readonly madeRoom: boolean } {
    if (this.#entries.size < this.#limit) return { admitted: true, madeRoom: false };
    const idlest = this.#idlest();
    if (idlest === null) return { admitted: false, madeRoom: false };
    idlest.letGo();
    return { admitted: true, madeRoom: true };
  }

  add(key: Key, entry: Entry): void {
    this.#entries.set(key, entry);
    this.#sweep ??= this.#startSweep();
  }

  delete(key: Key): void {
    this.#entries.delete(key);
  }

  /** Stops the sweep (the front stops). */
  close(): void {
    if (this.#sweep !== null) clearInterval(this.#sweep);
    this.#sweep = null;
  }

  #idlest(): Entry | null {
    let idlest: Entry | null = null;
    for (const entry of this.#entries.values()) {
      if (entry.busy) continue;
      if (idlest === null || entry.lastActiveAt < idlest.lastActiveAt) idlest = entry;
    }
    return idlest;
  }

  #startSweep(): NodeJS.Timeout {
    const timer = setInterval(
      () => {
        const cutoff = Date.now() - this.#idleMs;
        for (const entry of this.#entries.values()) {
          if (!entry.busy && entry.lastActiveAt <= cutoff) entry.letGo();
        }
      },
      Math.max(50, Math.min(this.#idleMs / 4, 10_000)),
    );
    timer.unref();
    return timer;
  }
}

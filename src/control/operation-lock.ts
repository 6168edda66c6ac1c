import { CodedError } from '../coded-error.js';

/** Another operation holds the lock, or the daemon is stopping (409 on the control socket). */
export class BusyError extends CodedError<'ERR_BUSY'> {
  override readonly name = 'BusyError';

  constructor(message: string) {
    super('ERR_BUSY', message);
  }
}

/** One hold on the lock; releasing it twice is harmless. */
export interface OperationClaim {
  release(): void;
}

/**
 * The one lock deploy, rollback, restart and upgrade take: each replaces replicas on a plan of its own,
 * so a second one is refused while the first runs. A switch that follows a deploy tool's
 * symlink flip holds it too, without being refused (the flip has happened; the daemon follows
 * it), so that nothing else starts beside it. Waiters learn when it is free by an event, not by
 * asking again.
 */
export class OperationLock {
  /** In the order they were taken: the first names what runs in a refusal. */
  readonly #holders = new Set<{ readonly what: string }>();
  #freeWaiters: Array<() => void> = [];
  /** Told after every take and release (systemd's STATUS= line names what runs). */
  readonly #changeListeners = new Set<() => void>();

  get busy(): boolean {
    return this.#holders.size > 0;
  }

  /** What holds it ("a deploy of …", "an upgrade"), the first taker; null when free. */
  get holder(): string | null {
    const [first] = this.#holders;
    return first?.what ?? null;
  }

  /** Takes the lock for `what` ("a deploy of …"), or throws BusyError naming what holds it. */
  claim(what: string): OperationClaim {
    const [first] = this.#holders;
    if (first !== undefined) {
      throw new BusyError(`${first.what} is running; try again when it has finished`);
    }
    return this.hold(what);
  }

  /** Holds the lock for `what` whether or not it is held already. */
  hold(what: string): OperationClaim {
    const holder = { what };
    this.#holders.add(holder);
    this.#changed();
    return { release: () => this.#release(holder) };
  }

  /** Calls `listener` after each take and release; returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  }

  /**
   * Resolves once nothing holds the lock: at once when free. Resolved from a promise, so
   * whatever waits runs after the releasing operation has finished its own cleanup; by then
   * another operation may hold it again, so waiters check `busy` once woken.
   */
  untilFree(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.#freeWaiters.push(resolve));
  }

  #release(holder: { readonly what: string }): void {
    if (!this.#holders.delete(holder)) return;
    this.#changed();
    if (this.busy) return;
    const waiters = this.#freeWaiters;
    this.#freeWaiters = [];
    for (const wake of waiters) wake();
  }

  #changed(): void {
    for (const listener of this.#changeListeners) listener();
  }
}

import type { Logger } from 'pino';

/**
 * One warning line per interval for an event a client can repeat at will (a refused
 * connection, a connection closed for its buffer): the first occurrence is logged at once,
 * the ones after it within the interval are counted and logged as one line when it ends, so a
 * flood of them costs a line every interval, not a line each, and none goes unreported.
 */
export class RateLimitedWarning {
  readonly #logger: Logger;
  readonly #code: string;
  readonly #message: string;
  readonly #intervalMs: number;
  /** Occurrences not logged yet, and the latest one's fields. */
  #pending = 0;
  #fields: Record<string, unknown> = {};
  /** Running while the interval after a line lasts. */
  #timer: NodeJS.Timeout | null = null;

  constructor(logger: Logger, code: string, message: string, intervalMs = 10_000) {
    this.#logger = logger;
    this.#code = code;
    this.#message = message;
    this.#intervalMs = intervalMs;
  }

  note(fields: Record<string, unknown> = {}): void {
    this.#pending += 1;
    this.#fields = fields;
    if (this.#timer === null) this.#flush();
  }

  /** Stops the timer (the line it would write is dropped): for a front that closes. */
  close(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#pending = 0;
  }

  #flush(): void {
    if (this.#pending === 0) {
      this.#timer = null;
      return;
    }
    this.#logger.warn({ code: this.#code, count: this.#pending, ...this.#fields }, this.#message);
    this.#pending = 0;
    this.#timer = setTimeout(() => this.#flush(), this.#intervalMs);
    // A pending count must not keep a stopping daemon alive.
    this.#timer.unref();
  }
}

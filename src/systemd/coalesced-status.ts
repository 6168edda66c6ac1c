/**
 * STATUS= lines at most once per interval: a deploy moves replicas many times a second and
 * `systemctl status` shows only the last line. The first change is sent at once, later ones
 * within the interval as one line when it ends (the newest text), an unchanged text never.
 */
export class CoalescedStatus {
  readonly #send: (text: string) => void;
  readonly #intervalMs: number;
  #lastSent: string | null = null;
  #pending: string | null = null;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(send: (text: string) => void, intervalMs = 1_000) {
    this.#send = send;
    this.#intervalMs = intervalMs;
  }

  update(text: string): void {
    if (this.#closed) return;
    this.#pending = text;
    if (this.#timer === null) this.#flush();
  }

  /** Stops the timer; a line still pending is dropped (STOPPING=1 carries its own). */
  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #flush(): void {
    this.#timer = null;
    const text = this.#pending;
    this.#pending = null;
    if (text === null || text === this.#lastSent) return;
    this.#lastSent = text;
    this.#send(text);
    this.#timer = setTimeout(() => this.#flush(), this.#intervalMs);
    this.#timer.unref();
  }
}

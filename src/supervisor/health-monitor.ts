import type { ListenAddress } from '../config/address.js';
import type { HealthConfig } from '../config/config-types.js';
import { checkHealth } from './health-check.js';

/**
 * What a monitor reports. `healthy`, `unhealthy` and `inconclusive` (out of descriptors: says
 * nothing of the replica) are single checks; `start-timeout` ends the start-up checks.
 */
export type HealthEvent =
  | { readonly kind: 'healthy' }
  | { readonly kind: 'unhealthy'; readonly reason: string }
  | { readonly kind: 'inconclusive'; readonly reason: string }
  | { readonly kind: 'start-timeout'; readonly reason: string };

/** Pause between start-up checks. */
const START_PAUSE_MS = 100;
const NO_ANSWER_YET = 'no health check answered yet';

/**
 * Health checks of one incarnation, each result reported as an event: what to do about it
 * (ready, a failure count, a drain) is the supervisor's and the planner's decision.
 */
export class HealthMonitor {
  readonly #address: ListenAddress;
  readonly #release: string;
  readonly #health: HealthConfig;
  readonly #report: (event: HealthEvent) => void;
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;

  constructor(
    address: ListenAddress,
    release: string,
    health: HealthConfig,
    report: (event: HealthEvent) => void,
  ) {
    this.#address = address;
    this.#release = release;
    this.#health = health;
    this.#report = report;
  }

  /**
   * Start-up: a check, a short pause, another, until one passes (`healthy`, then it stops),
   * `startTimeoutMs` passes (`start-timeout`, with the last full check's reason: one the
   * deadline cut short says only that time ran out), or `wanted()` turns false.
   */
  watchStartUp(wanted: () => boolean): void {
    const { startTimeoutMs, timeoutMs: checkMs, path } = this.#health;
    const deadline = Date.now() + startTimeoutMs;
    let lastReason = NO_ANSWER_YET;
    const check = async (): Promise<void> => {
      if (this.#stopped || !wanted()) return;
      const timeoutMs = Math.min(checkMs, Math.max(1, deadline - Date.now()));
      const result = await this.#check(timeoutMs);
      if (this.#stopped || !wanted()) return;
      if (result.ok) {
        this.stop();
        this.#report({ kind: 'healthy' });
        return;
      }
      const cutShort = timeoutMs < checkMs && lastReason !== NO_ANSWER_YET;
      if (!cutShort) lastReason = result.reason;
      this.#timer = setTimeout(
        afterPause,
        Math.min(START_PAUSE_MS, Math.max(0, deadline - Date.now())),
      );
    };
    // The deadline is looked at after each pause, not only after a check.
    const afterPause = (): void => {
      if (this.#stopped || !wanted()) return;
      if (Date.now() < deadline) {
        void check();
        return;
      }
      this.stop();
      this.#report({
        kind: 'start-timeout',
        reason: `no healthy answer on ${path} within ${startTimeoutMs} ms: ${lastReason}`,
      });
    };
    void check();
  }

  /** While ready: one check per `intervalMs`, never two at once, each result reported. */
  watchReady(): void {
    let checking = false;
    this.#timer = setInterval(() => {
      if (checking) return;
      checking = true;
      void this.#check(this.#health.timeoutMs).then((result) => {
        checking = false;
        if (this.#stopped) return;
        if (result.ok) this.#report({ kind: 'healthy' });
        else if (result.inconclusive === true) {
          this.#report({ kind: 'inconclusive', reason: result.reason });
        } else this.#report({ kind: 'unhealthy', reason: result.reason });
      });
    }, this.#health.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      clearInterval(this.#timer);
    }
    this.#timer = null;
  }

  #check(timeoutMs: number) {
    return checkHealth(this.#address, {
      path: this.#health.path,
      expect: this.#health.expect,
      timeoutMs,
      release: this.#release,
    });
  }
}

import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { readFpmStatus } from '../src/watchdog/fpm-status.js';

export interface FpmBusyWatcherOptions {
  /** The php-fpm pool's socket. */
  readonly socket: string;
  /** Its pm.status_path. */
  readonly statusPath: string;
  /** Every child busy this long, without a break, and the pool is restarted. */
  readonly thresholdMs: number;
  /** How often the status page is asked for; also its timeout. */
  readonly pollEveryMs: number;
  /** What the operator's script runs: a restart or a reload of php-fpm. */
  readonly restart: () => Promise<void>;
}

/** One restart the watcher ran: performance.now() when it began and when it returned. */
export interface WatcherRestart {
  readonly at: number;
  readonly doneAt: number;
}

/**
 * What operators script today against a php-fpm whose workers get stuck (a cron job, a
 * monit check): ask the status page every `pollEveryMs`, and when every child has been busy
 * for `thresholdMs`, restart php-fpm. It polls on purpose: it stands in for that script, and
 * php-fpm has no event to wait for. "Every child busy" is `idle processes: 0`, or no answer
 * within the poll interval: php-fpm answers its status page from a child, so with all of
 * them busy the request waits in the listen backlog.
 */
export class FpmBusyWatcher {
  readonly restarts: WatcherRestart[] = [];
  readonly #options: FpmBusyWatcherOptions;
  readonly #stop = new AbortController();
  #loop: Promise<void> | null = null;

  constructor(options: FpmBusyWatcherOptions) {
    this.#options = options;
  }

  start(): void {
    this.#loop ??= this.#watch();
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
  }

  async #watch(): Promise<void> {
    const { pollEveryMs, thresholdMs } = this.#options;
    let busySince: number | null = null;
    while (!this.#stop.signal.aborted) {
      const polledAt = performance.now();
      if (await this.#allBusy()) busySince ??= polledAt;
      else busySince = null;
      if (busySince !== null && polledAt - busySince >= thresholdMs) {
        const at = performance.now();
        await this.#options.restart();
        this.restarts.push({ at, doneAt: performance.now() });
        busySince = null;
        continue;
      }
      const wait = polledAt + pollEveryMs - performance.now();
      if (wait > 0) await delay(wait, undefined, { signal: this.#stop.signal }).catch(() => {});
    }
  }

  async #allBusy(): Promise<boolean> {
    try {
      const status = await readFpmStatus(
        { kind: 'unix', path: this.#options.socket },
        this.#options.statusPath,
        { timeoutMs: this.#options.pollEveryMs },
      );
      return status.idleProcesses === 0;
    } catch {
      return true;
    }
  }
}

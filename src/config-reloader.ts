import type { Logger } from 'pino';
import type { Config } from './config/config-types.js';
import { keysNeedingRestart, reloadRefusal } from './config/reload-policy.js';
import type { OperationLock } from './control/operation-lock.js';

export interface ConfigReloaderOptions {
  readonly config: Config;
  /** Held while a deploy, rollback or restart runs: a reload waits for it to be free. */
  readonly lock: OperationLock;
  /** Puts a config in force (status, the supervisor's settings: replicas replaced one by one). */
  readonly apply: (next: Config) => void;
  readonly logger: Logger;
}

/**
 * Applies a re-read config (SIGHUP) by replacing replicas, or says why not. While a deploy,
 * rollback or restart runs, replacing every replica would undo its plan: the reload is applied
 * when the lock is free, the latest one only.
 */
export class ConfigReloader {
  readonly #options: ConfigReloaderOptions;
  #current: Config;
  /** A reload accepted while the lock was held, not yet applied. */
  #pending: Config | null = null;

  constructor(options: ConfigReloaderOptions) {
    this.#options = options;
    this.#current = options.config;
  }

  /** Returns what it did, or why not, for the log. */
  reload(next: Config): string {
    const refused = reloadRefusal(this.#current, next);
    if (refused !== null) return refused;
    const later = keysNeedingRestart(this.#current, next);
    const note =
      later.length > 0
        ? `; ${later.join(', ')} take effect when the daemon restarts (or after \`switchyard upgrade\`)`
        : '';
    if (this.#options.lock.busy) {
      const waiting = this.#pending !== null;
      this.#pending = next;
      if (!waiting) void this.#applyWhenFree();
      return `config accepted, applied when the running deploy or restart ends${note}`;
    }
    // An older deferred reload must not land after this one.
    this.#pending = null;
    this.#apply(next);
    return `config applied: replacing replicas one at a time${note}`;
  }

  async #applyWhenFree(): Promise<void> {
    const { lock, logger } = this.#options;
    while (lock.busy) await lock.untilFree();
    const next = this.#pending;
    if (next === null) return;
    this.#pending = null;
    this.#apply(next);
    logger.info('the deferred config reload is applied now');
  }

  #apply(next: Config): void {
    this.#current = next;
    this.#options.apply(next);
  }
}

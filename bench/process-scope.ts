import { makeTempDir } from '../test/support/temp-dir.js';
import { childPids } from './proc-stats.js';

/**
 * A benchmark setup's temp directory and every process started in it, stopped in reverse
 * order by `close` even when a start failed half way; concurrent calls of `close` share one
 * run. Should the benchmark exit before `close` is done (an uncaught error, `process.exit`),
 * whatever still runs is SIGKILLed and the directory removed on the way out.
 */
export class ProcessScope {
  readonly dir: string;
  readonly #removeDir: () => void;
  readonly #cleanups: Array<() => Promise<void> | void> = [];
  /** Leaders of their own process groups: php-fpm masters, daemons and their replicas. */
  readonly #groups = new Set<number>();
  /** nginx masters, sharing the benchmark's group: killed with their workers. */
  readonly #nginxMasters = new Set<number>();
  #closing: Promise<void> | null = null;
  readonly #killOnExit = () => this.#killNow();

  constructor(label: string) {
    const temp = makeTempDir(label);
    this.dir = temp.path;
    this.#removeDir = temp.remove;
    this.#cleanups.push(temp.remove);
    process.on('exit', this.#killOnExit);
  }

  /** Runs `cleanup` when closing, before what was registered earlier. */
  defer(cleanup: () => Promise<unknown>): void {
    this.#cleanups.push(async () => {
      await cleanup();
    });
  }

  /**
   * `leader` leads a process group of its own: `stop` ends it when closing, a SIGKILL to the
   * group should the benchmark exit first.
   */
  trackGroup(leader: number, stop: () => Promise<unknown>): void {
    this.#groups.add(leader);
    this.defer(async () => {
      await stop();
      this.#groups.delete(leader);
    });
  }

  /** A process group to SIGKILL should the benchmark exit, with no stop of its own. */
  killGroupOnExit(leader: number): void {
    this.#groups.add(leader);
  }

  /** An nginx master: `stop` ends it when closing; returns that stop, for an earlier one. */
  trackNginx(master: number, stop: () => Promise<unknown>): () => Promise<void> {
    this.#nginxMasters.add(master);
    const stopped = async () => {
      await stop();
      this.#nginxMasters.delete(master);
    };
    this.defer(stopped);
    return stopped;
  }

  close(): Promise<void> {
    this.#closing ??= this.#closeAll();
    return this.#closing;
  }

  async #closeAll(): Promise<void> {
    for (const cleanup of this.#cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        process.stderr.write(`bench cleanup: ${(error as Error).message}\n`);
      }
    }
    process.off('exit', this.#killOnExit);
  }

  /** Synchronous, for the `exit` event: SIGKILL to what is left, the temp dir removed. */
  #killNow(): void {
    for (const pid of this.#nginxMasters) killNginx(pid);
    for (const pid of this.#groups) killGroup(pid);
    this.#removeDir();
  }
}

/** An nginx master's workers outlive a killed master: found while they are its children. */
export function killNginx(master: number): void {
  for (const pid of [...childPids(master), master]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
}

export function killGroup(leader: number): void {
  try {
    process.kill(-leader, 'SIGKILL');
  } catch {}
}

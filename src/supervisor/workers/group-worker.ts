import { rmSync } from 'node:fs';
import type { Logger } from 'pino';
import type { ListenAddress } from '../../config/address.js';
import type { OutputLog } from './output-log.js';
import { stopGroups } from './process-stop.js';
import type { StopTable } from './stop-tables.js';
import type { Worker, WorkerExit, WorkerStopResult } from './worker.js';
import type { WorkerProcess } from './worker-process.js';

export interface GroupWorkerOptions {
  /** The processes switchyard started, each the leader of its own process group. */
  readonly processes: readonly WorkerProcess[];
  /** Where the worker listens. */
  readonly socket: string;
  /** What the worker leaves on disk (its socket among them), removed once it is stopped. */
  readonly files: readonly string[];
  readonly output: OutputLog;
  readonly log: Logger;
  readonly drainTimeoutMs: number;
  readonly table: StopTable;
  /** php-fpm's pm.status_path; absent for other programs. */
  readonly statusPath?: string;
}

/**
 * A running worker of either kind: processes in their own process groups, stopped by its
 * kind's stop table. `exited` settles when the first of them exits. One that exits without
 * stop() (a crash, `kill -9`) may leave processes in its group, still holding the socket and
 * maybe finishing requests: they get the table's after-exit steps, the drain timeout apart.
 */
export class GroupWorker implements Worker {
  readonly address: ListenAddress;
  readonly pids: readonly number[];
  readonly statusPath: string | null;
  readonly exited: Promise<WorkerExit>;
  readonly #options: GroupWorkerOptions;
  #stopping: Promise<WorkerStopResult> | null = null;

  constructor(options: GroupWorkerOptions) {
    const { processes, table, log } = options;
    this.#options = options;
    this.address = { kind: 'unix', path: options.socket };
    this.pids = processes.map((entry) => entry.pid);
    this.statusPath = options.statusPath ?? null;
    this.exited = Promise.race(processes.map((entry) => entry.exited));
    for (const entry of processes) {
      void entry.exited.then(async (exit) => {
        if (this.#stopping !== null) return;
        log.warn({ pid: exit.pid, code: exit.code, signal: exit.signal }, table.exitedMessage);
        const outcome = await stopGroups([entry], table.afterExit, options.drainTimeoutMs);
        this.#reportSurvivors(outcome.stragglers);
        if (table.removeFilesAfterExit && this.#stopping === null) this.#removeFiles();
      });
    }
  }

  stop(graceMs: number): Promise<WorkerStopResult> {
    this.#stopping ??= (async () => {
      const { processes, table, log } = this.#options;
      const outcome = await stopGroups(processes, table.stop, graceMs);
      this.#reportSurvivors(outcome.stragglers);
      this.#removeFiles();
      log.info({ ...table.stoppedFields(this.pids), forced: outcome.forced }, table.stoppedMessage);
      return { forced: outcome.forced };
    })();
    return this.#stopping;
  }

  outputTail(): string {
    return this.#options.output.tail();
  }

  #removeFiles(): void {
    for (const path of this.#options.files) rmSync(path, { force: true });
  }

  #reportSurvivors(stragglers: readonly number[]): void {
    if (stragglers.length > 0) {
      this.#options.log.error({ pids: stragglers }, this.#options.table.survivorsMessage);
    }
  }
}

/** After a failed start: SIGKILL whatever is left of the processes, then read what they said. */
export async function discardFailedStart(
  processes: readonly WorkerProcess[],
  output: OutputLog,
  files: readonly string[],
): Promise<void> {
  await stopGroups(processes, [{ signal: 'SIGKILL', to: 'group' }], 0);
  await output.drained(1_000);
  for (const path of files) rmSync(path, { force: true });
}

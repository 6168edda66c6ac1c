import { CodedError } from '../../coded-error.js';
import type { WorkerExit } from './worker.js';

export type WorkerErrorCode =
  /** The worker could not be started at all: config not writable, spawn failed, bad socket path. */
  | 'ERR_WORKER_SPAWN'
  /** It started, then exited before it was ready (php-fpm refusing its config, a crash). */
  | 'ERR_WORKER_EXITED'
  /** It kept running but its socket did not appear within the bound. */
  | 'ERR_WORKER_START_TIMEOUT';

export interface WorkerErrorOptions {
  /** The worker's last output lines (php-fpm's own `ERROR: …` lines, a stack trace). */
  readonly outputTail?: string;
  readonly exit?: WorkerExit | null;
  readonly cause?: unknown;
}

/** How many of the tail's last lines the message quotes; `outputTail` has them all. */
const MESSAGE_TAIL_LINES = 12;

/**
 * A worker that failed to start. The message quotes the end of the worker's own output, so a
 * deploy that fails on a bad pool directive says why in php-fpm's words; `outputTail` has more.
 */
export class WorkerError extends CodedError<WorkerErrorCode> {
  override readonly name = 'WorkerError';
  readonly outputTail: string;
  /** How the process ended, when it did. */
  readonly exit: WorkerExit | null;

  constructor(code: WorkerErrorCode, summary: string, options: WorkerErrorOptions = {}) {
    const tail = options.outputTail ?? '';
    const quoted = tail.split('\n').filter(Boolean).slice(-MESSAGE_TAIL_LINES).join('\n');
    super(
      code,
      quoted === '' ? `${summary} (no output)` : `${summary}; its output ends with:\n${quoted}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.outputTail = tail;
    this.exit = options.exit ?? null;
  }
}

export function isWorkerError(error: unknown): error is WorkerError {
  return error instanceof WorkerError;
}

/** `code 78`, `signal SIGKILL`: for messages. */
export function describeExit(exit: WorkerExit): string {
  return exit.signal !== null ? `signal ${exit.signal}` : `code ${exit.code}`;
}

import type { StopStep } from './process-stop.js';

/** How one kind of worker is stopped, and what its log says when it is. */
export interface StopTable {
  /** stop(grace): each step, then up to `grace` for the processes to be gone. */
  readonly stop: readonly StopStep[];
  /** What a process that exited without stop() left in its group gets, a drain timeout apart. */
  readonly afterExit: readonly StopStep[];
  /** Whether the worker's files go once that is done: the process that exited was the replica. */
  readonly removeFilesAfterExit: boolean;
  /** The log line of an exit without stop(). */
  readonly exitedMessage: string;
  /** The log line of a finished stop(), and the fields naming what stopped. */
  readonly stoppedMessage: string;
  stoppedFields(pids: readonly number[]): Record<string, unknown>;
  /** The log line for processes still there after the last SIGKILL. */
  readonly survivorsMessage: string;
}

/**
 * php-fpm: graceful (the master lets children finish), then fast (SIGTERM), then the whole
 * group killed. Children orphaned by a master that died each finish their request, or are
 * killed; the master was the replica, so its files go then.
 */
export const PHP_FPM_STOP_TABLE: StopTable = {
  stop: [
    { signal: 'SIGQUIT', to: 'leader' },
    { signal: 'SIGTERM', to: 'leader' },
    { signal: 'SIGKILL', to: 'group' },
  ],
  afterExit: [
    { signal: 'SIGQUIT', to: 'group' },
    { signal: 'SIGKILL', to: 'group' },
  ],
  removeFilesAfterExit: true,
  exitedMessage: 'php-fpm master exited unexpectedly; stopping its orphaned children',
  stoppedMessage: 'php-fpm master stopped',
  stoppedFields: ([pid]) => ({ pid }),
  survivorsMessage: 'php-fpm processes survived SIGKILL',
};

/**
 * A command: SIGTERM to each process, SIGKILL to each group. What a process that exited on its
 * own left in its group (php-cgi's PHP_FCGI_CHILDREN outlive it) gets SIGTERM, then SIGKILL;
 * the socket stays for the processes still serving it until stop().
 */
export const COMMAND_STOP_TABLE: StopTable = {
  stop: [
    { signal: 'SIGTERM', to: 'leader' },
    { signal: 'SIGKILL', to: 'group' },
  ],
  afterExit: [
    { signal: 'SIGTERM', to: 'group' },
    { signal: 'SIGKILL', to: 'group' },
  ],
  removeFilesAfterExit: false,
  exitedMessage: 'command process exited unexpectedly',
  stoppedMessage: 'command stopped',
  stoppedFields: (pids) => ({ pids }),
  survivorsMessage: 'command processes survived SIGKILL',
};

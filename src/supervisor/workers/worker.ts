import type { ListenAddress } from '../../config/address.js';

/** One incarnation of a replica, as the supervisor asks for it. */
export interface WorkerSpec {
  /** `replica-1`: the slot's name, used in logs and process titles. */
  readonly name: string;
  /** Bumps on every start of the slot: each incarnation gets its own socket and files. */
  readonly incarnation: number;
  /** The pinned release directory: cwd / php-fpm chdir, and SWITCHYARD_RELEASE_DIR. */
  readonly release: string;
  /** Requests switchyard routes to it at once (workers started: capacity + 1, see below). */
  readonly capacity: number;
}

export interface WorkerExit {
  readonly pid: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface WorkerStopResult {
  /** True when the graceful signal was not enough and the worker was killed. */
  readonly forced: boolean;
}

/**
 * A running replica: a php-fpm master with its children, or `capacity + 1` processes of a
 * command sharing one listening socket. One worker more than `capacity` is started so a
 * health check always finds a free one, even when switchyard fills every routed slot.
 */
export interface Worker {
  /** Where requests go. */
  readonly address: ListenAddress;
  /** The processes switchyard started (the php-fpm master; every command process). */
  readonly pids: readonly number[];
  /**
   * php-fpm's pm.status_path, where the watchdog learns which child runs which request; null
   * for other programs (the watchdog then reads /proc for the processes' groups).
   */
  readonly statusPath: string | null;
  /**
   * Settles the first time any started process exits, whether asked to or not; the
   * supervisor knows whether it asked. Never rejects.
   */
  readonly exited: Promise<WorkerExit>;
  /**
   * Graceful stop (php-fpm: SIGQUIT, which lets requests finish within its
   * process_control_timeout), then SIGTERM, then SIGKILL after `graceMs` each. Resolves once
   * every process of the worker is gone, including orphaned php-fpm children.
   */
  stop(graceMs: number): Promise<WorkerStopResult>;
  /** The last lines the worker wrote to stderr/stdout, for error reports. */
  outputTail(): string;
}

/** Starts workers of one kind. Rejects with a WorkerError when the process cannot start. */
export interface WorkerLauncher {
  launch(spec: WorkerSpec): Promise<Worker>;
}

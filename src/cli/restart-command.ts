import { InvalidArgumentError } from 'commander';
import { runStreamedCommand } from './progress-printer.js';

export interface RestartCommandOptions {
  readonly config: string;
  /** 1-based; undefined restarts every replica, one at a time. */
  readonly replica?: number | undefined;
}

/**
 * `switchyard restart`: a rolling restart in the running daemon. Prints each progress line as
 * it arrives, then the outcome with its duration. Exit 0 only when the daemon reports
 * success; 1 when it fails, refuses (a restart already running, no such replica) or cannot
 * be reached; 78 for a bad config. Ctrl-C stops watching, not the restart.
 */
export function runRestartCommand(options: RestartCommandOptions): Promise<number> {
  const request = options.replica === undefined ? {} : { replica: options.replica };
  return runStreamedCommand({
    operation: 'restart',
    config: options.config,
    start: (client, onEvent) => client.restart(request, onEvent),
  });
}

/** commander argParser for `--replica`: a positive integer, else a usage error (exit 2). */
export function parseReplicaNumber(text: string): number {
  if (!/^[1-9]\d*$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new InvalidArgumentError(
      `must be a positive integer (1 for replica-1), got ${JSON.stringify(text)}`,
    );
  }
  return Number(text);
}

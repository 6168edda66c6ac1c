import { runStreamedCommand } from './progress-printer.js';

export interface RollbackCommandOptions {
  readonly config: string;
}

/**
 * `switchyard rollback`: switches the running daemon back to the release it served before
 * the last switch, the same way a deploy switches forward. Prints each progress line, then
 * `rolled back to <release> in 3.2s`; with nothing to go back to the daemon refuses
 * (ERR_NO_ROLLBACK_TARGET). Exit 0 only when the daemon reports success, 1 when it fails,
 * refuses or cannot be reached, 78 for a bad config.
 */
export function runRollbackCommand(options: RollbackCommandOptions): Promise<number> {
  return runStreamedCommand({
    operation: 'rollback',
    config: options.config,
    sayRefused: true,
    start: (client, onEvent) => client.rollback(onEvent),
  });
}

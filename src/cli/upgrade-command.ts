import { resolve } from 'node:path';
import { runStreamedCommand } from './progress-printer.js';

export interface UpgradeCommandOptions {
  readonly config: string;
  /** Another switchyard build to start (a relative path is taken from the current directory). */
  readonly binary?: string | undefined;
}

/**
 * `switchyard upgrade`: the running daemon starts a new one (its own command line, or
 * `--binary`) on the same sockets; once the new one's replicas are ready it takes over and
 * the old one finishes its requests and exits. Exit 0 when the new daemon serves; 1 when it
 * failed to start (the old one serves on; the reason is printed), was refused (a deploy
 * running) or no daemon answers; 78 for a bad config.
 */
export function runUpgradeCommand(options: UpgradeCommandOptions): Promise<number> {
  const request = options.binary === undefined ? {} : { binary: resolve(options.binary) };
  return runStreamedCommand({
    operation: 'upgrade',
    config: options.config,
    start: (client) => client.upgrade(request),
    sayRefused: true,
    formatOutcome: (done) =>
      done.ok ? `${done.message} (${(done.durationMs / 1000).toFixed(1)}s)` : done.message,
  });
}

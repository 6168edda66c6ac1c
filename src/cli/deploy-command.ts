import { resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { runStreamedCommand } from './progress-printer.js';

export interface DeployCommandOptions {
  readonly config: string;
  /** Deploy even when `<dir>` is the current release: restarts every replica on it. */
  readonly force: boolean;
  /** What a relative `<dir>` is resolved against; the process's cwd unless told. */
  readonly cwd?: string;
}

/**
 * `switchyard deploy <dir>`: switches the running daemon to the release in `<dir>`. A relative
 * `<dir>` is made absolute against the CLI's cwd (the daemon does not know it) but not
 * resolved further: the daemon follows symlinks and checks the target itself, refusing a bad
 * one (ERR_DEPLOY_TARGET) before anything changes. Prints each progress line, then
 * `deployed <release> in 12.3s`; exit 0 only when the daemon reports success, 1 when it
 * fails, refuses or cannot be reached, 78 for a bad config.
 */
export function runDeployCommand(dir: string, options: DeployCommandOptions): Promise<number> {
  const target = resolve(options.cwd ?? process.cwd(), dir);
  return runStreamedCommand({
    operation: 'deploy',
    config: options.config,
    target,
    sayRefused: true,
    start: (client, onEvent) =>
      client.deploy(options.force ? { target, force: true } : { target }, onEvent),
  });
}

/** commander argParser for `<dir>`: an empty argument (`deploy ""`) is a usage error (exit 2). */
export function parseReleaseDir(text: string): string {
  if (text === '') {
    throw new InvalidArgumentError(
      'the release directory is empty: name it, e.g. /srv/app/releases/43',
    );
  }
  return text;
}

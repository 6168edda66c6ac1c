import { resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { parseDuration } from '../config/units.js';
import { ControlError } from '../control/control-error.js';
import { type DoneEvent, MAX_AWAIT_TIMEOUT_MS } from '../control/messages.js';
import { escapeControlsByLine, escapeControls as shown } from './escape-controls.js';
import { runStreamedCommand } from './progress-printer.js';

/** `--timeout` unless told: long enough for a php-fpm start, health check and warm-up of each half. */
export const DEFAULT_AWAIT_TIMEOUT = '120s';

/**
 * How long the CLI waits past its timeout for the daemon's own answer (which says what it was
 * doing) before giving up on it.
 */
const ANSWER_GRACE_MS = 10_000;

export interface AwaitCommandOptions {
  readonly config: string;
  readonly timeoutMs: number;
  /** The release the symlink was flipped to; a relative path is taken from `cwd`. */
  readonly release?: string;
  /** What a relative `--release` is resolved against; the process's cwd unless told. */
  readonly cwd?: string;
}

/**
 * `switchyard await`: after a deploy tool flipped the symlink (Deployer's `deploy:symlink`,
 * Capistrano, `ln -sfn`), waits until every replica serves the release, printing the switch's
 * progress like `deploy`. Exit 0 when it does; 1 when the daemon refused the flip, abandoned
 * it (and put the symlink back), another flip replaced it, the timeout passed or the daemon
 * cannot be reached; 78 for a bad config.
 */
export function runAwaitCommand(options: AwaitCommandOptions): Promise<number> {
  const release =
    options.release === undefined
      ? undefined
      : resolve(options.cwd ?? process.cwd(), options.release);
  const request =
    release === undefined
      ? { timeoutMs: options.timeoutMs }
      : { release, timeoutMs: options.timeoutMs };
  return runStreamedCommand({
    operation: 'await',
    config: options.config,
    sayRefused: true,
    goesOn: 'the switch',
    formatOutcome: formatAwaitOutcome,
    start: (client, onEvent) =>
      answeredWithin(
        client.awaitRelease(request, onEvent),
        options.timeoutMs + ANSWER_GRACE_MS,
        client.socketPath,
      ),
  });
}

/**
 * `every replica serves /srv/app/releases/43 (waited 12.3s)`, or
 * `await failed after 3.1s: <first line>` with the daemon's further lines indented.
 */
export function formatAwaitOutcome(done: DoneEvent): string {
  const took = `${(done.durationMs / 1000).toFixed(1)}s`;
  if (done.ok) return `${shown(done.message)} (waited ${took})`;
  const [first = '', ...rest] = escapeControlsByLine(done.message.trim()).split('\n');
  return [
    `await failed after ${took}: ${first}`,
    ...rest.map((line) => `  ${line}`.trimEnd()),
  ].join('\n');
}

/** commander argParser for `--timeout`: a duration such as 90s or 5m, at most an hour. */
export function parseAwaitTimeout(text: string): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
  if (ms <= 0 || ms > MAX_AWAIT_TIMEOUT_MS) {
    throw new InvalidArgumentError(
      `${JSON.stringify(text)} is out of range: from 1ms to ${MAX_AWAIT_TIMEOUT_MS / 60_000}m`,
    );
  }
  return ms;
}

/** The daemon ends the wait at its timeout; one that does not answer then is given up on. */
function answeredWithin(
  waiting: Promise<DoneEvent>,
  limitMs: number,
  socketPath: string,
): Promise<DoneEvent> {
  let timer: NodeJS.Timeout | undefined;
  const silent = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new ControlError(
            'ERR_CONTROL_TIMEOUT',
            `switchyard on ${socketPath} did not end the wait within ${limitMs / 1000}s: it may be overloaded or stuck; see its log`,
          ),
        ),
      limitMs,
    );
  });
  return Promise.race([waiting, silent]).finally(() => clearTimeout(timer));
}

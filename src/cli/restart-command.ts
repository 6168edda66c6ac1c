import { InvalidArgumentError } from 'commander';
import { controlClientFor, reportControlFailure } from './control-target.js';
import { ExitCode } from './exit-code.js';
import { formatDone, formatProgress } from './status-format.js';

export interface RestartCommandOptions {
  readonly config: string;
  /** 1-based; undefined restarts every replica, one at a time. */
  readonly replica?: number | undefined;
}

/** 128 + SIGINT, what a shell reports for a command stopped with Ctrl-C. */
const INTERRUPTED_EXIT_CODE = 130;

/**
 * `switchyard restart`: a rolling restart in the running daemon. Prints each progress line as
 * it arrives, then the outcome with its duration. Exit 0 only when the daemon reports
 * success; 1 when it fails, refuses (a restart already running, no such replica) or cannot
 * be reached; 78 for a bad config. Ctrl-C stops watching, not the restart.
 */
export async function runRestartCommand(options: RestartCommandOptions): Promise<number> {
  const onInterrupt = () => {
    process.stderr.write(
      '\nswitchyard: stopped watching; the restart goes on in the daemon (see `switchyard status`)\n',
    );
    process.exit(INTERRUPTED_EXIT_CODE);
  };
  process.once('SIGINT', onInterrupt);
  try {
    const client = controlClientFor(options.config);
    const request = options.replica === undefined ? {} : { replica: options.replica };
    const done = await client.restart(request, (event) => {
      process.stdout.write(`${formatProgress(event)}\n`);
    });
    if (done.ok) {
      process.stdout.write(`${formatDone(done)}\n`);
      return ExitCode.ok;
    }
    process.stderr.write(`switchyard: ${formatDone(done)}\n`);
    return ExitCode.failed;
  } catch (error) {
    return reportControlFailure(error);
  } finally {
    process.off('SIGINT', onInterrupt);
  }
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

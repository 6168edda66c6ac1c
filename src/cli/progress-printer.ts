import type { ControlClient, OperationProgressEvent } from '../control/control-client.js';
import { isControlError } from '../control/control-error.js';
import type { DoneEvent } from '../control/messages.js';
import { controlClientFor, reportControlFailure } from './control-target.js';
import { escapeControlsByLine } from './escape-controls.js';
import { ExitCode } from './exit-code.js';
import { formatEvent, formatOutcome, type Operation } from './status-format.js';

/** 128 + SIGINT, what a shell reports for a command stopped with Ctrl-C. */
const INTERRUPTED_EXIT_CODE = 130;

interface StreamedCommandBase {
  /** The config file naming the control socket. */
  readonly config: string;
  /** Asks the daemon for the operation, passing each progress line on to `onEvent`. */
  start(
    client: ControlClient,
    onEvent: (event: OperationProgressEvent) => void,
  ): Promise<DoneEvent>;
  /**
   * Where the operation goes, for the final line when no cut-over line names it (a deploy
   * with --force of the current release restarts in place): the requested target.
   */
  readonly target?: string;
  /**
   * Prints the daemon's refusals (a bad target, nothing to roll back to, another operation
   * running) as `<operation> refused: …`; without it they are printed as they are.
   */
  readonly sayRefused?: boolean;
  /** What goes on in the daemon when Ctrl-C stops watching; "the <operation>" unless told. */
  readonly goesOn?: string;
}

/** The last line of a streamed command, from the daemon's `done` and where it went. */
export type OutcomeFormatter = (done: DoneEvent, release: string | null) => string;

/** restart, deploy and rollback end with status-format's lines; another command brings its own. */
export type StreamedCommand = StreamedCommandBase &
  (
    | { readonly operation: Operation; readonly formatOutcome?: undefined }
    | { readonly operation: string; readonly formatOutcome: OutcomeFormatter }
  );

/**
 * What `restart`, `deploy` and `rollback` share: starts the operation, prints each progress
 * line on stdout as it arrives, then the outcome (stdout when it succeeded, stderr with the
 * daemon's explanation indented when it failed). Exit 0 only when the daemon reports
 * success; 1 when it fails, refuses or cannot be reached; 78 for a bad config. Ctrl-C stops
 * watching, not the operation.
 */
export async function runStreamedCommand(command: StreamedCommand): Promise<number> {
  const { operation } = command;
  const onInterrupt = () => {
    process.stderr.write(
      `\nswitchyard: stopped watching; ${command.goesOn ?? `the ${operation}`} goes on in the daemon (see \`switchyard status\`)\n`,
    );
    process.exit(INTERRUPTED_EXIT_CODE);
  };
  process.once('SIGINT', onInterrupt);
  try {
    const client = controlClientFor(command.config);
    let release = command.target ?? null;
    const done = await command.start(client, (event) => {
      if (event.kind === 'toggle') release = event.release;
      process.stdout.write(`${formatEvent(event)}\n`);
    });
    const outcome =
      command.formatOutcome === undefined
        ? formatOutcome(command.operation, done, release)
        : command.formatOutcome(done, release);
    if (done.ok) {
      process.stdout.write(`${outcome}\n`);
      return ExitCode.ok;
    }
    process.stderr.write(`switchyard: ${outcome}\n`);
    return ExitCode.failed;
  } catch (error) {
    if (command.sayRefused === true && isControlError(error) && error.status !== undefined) {
      if (error.code === 'ERR_CONTROL_NOT_FOUND') {
        process.stderr.write(
          `switchyard: the running daemon does not know \`${operation}\`: it is older than this ` +
            'CLI (restart it to run the installed version)\n',
        );
        return ExitCode.failed;
      }
      if (isRefusal(error.code, error.status)) {
        // The daemon's reason names the target as given: escaped like every name printed.
        process.stderr.write(
          `switchyard: ${operation} refused: ${escapeControlsByLine(error.message)}\n`,
        );
        return ExitCode.failed;
      }
    }
    return reportControlFailure(error);
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}

/** The handler said no (ERR_DEPLOY_TARGET, ERR_BUSY, …), as opposed to the server or the transport. */
function isRefusal(code: string, status: number): boolean {
  return status >= 400 && status < 500 && !code.startsWith('ERR_CONTROL_');
}

import { controlClientFor, reportControlFailure } from './control-target.js';
import { ExitCode } from './exit-code.js';
import { formatStatus } from './status-format.js';

export interface StatusCommandOptions {
  readonly config: string;
  readonly json: boolean;
}

/**
 * `switchyard status`: asks the running daemon (through the control socket the config names)
 * and prints a table, or the daemon's answer as it is with `--json`. Exit 0 when the daemon
 * answered, 1 when it could not be reached, 78 for a bad config.
 */
export async function runStatusCommand(options: StatusCommandOptions): Promise<number> {
  try {
    const status = await controlClientFor(options.config).status();
    process.stdout.write(
      options.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status, Date.now()),
    );
    return ExitCode.ok;
  } catch (error) {
    return reportControlFailure(error);
  }
}

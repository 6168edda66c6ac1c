import { CONFIG_EXIT_CODE, isConfigError } from '../config/config-error.js';
import { readControlSocket } from '../config/control-socket.js';
import { ControlClient } from '../control/control-client.js';
import { isControlError } from '../control/control-error.js';
import { escapeControlsByLine } from './escape-controls.js';
import { ExitCode } from './exit-code.js';

/**
 * The client for the control socket the config file names. Only `control.socket` is read
 * (see readControlSocket); a bad one throws its ConfigError.
 */
export function controlClientFor(configPath: string): ControlClient {
  return new ControlClient(readControlSocket(configPath));
}

/**
 * Prints why a control command failed on stderr and returns its exit code: 78 for a bad
 * config (naming the key), 1 when the daemon is unreachable or refuses the request. Messages
 * quote paths and the daemon's words, so control characters in them are escaped.
 */
export function reportControlFailure(error: unknown): number {
  if (isConfigError(error)) {
    process.stderr.write(`switchyard: config error: ${escapeControlsByLine(error.message)}\n`);
    return CONFIG_EXIT_CODE;
  }
  if (isControlError(error)) {
    process.stderr.write(`switchyard: ${escapeControlsByLine(error.message)}\n`);
    return ExitCode.failed;
  }
  process.stderr.write(`switchyard: ${(error as Error)?.stack ?? String(error)}\n`);
  return ExitCode.failed;
}

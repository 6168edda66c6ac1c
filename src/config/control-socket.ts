import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse, TomlError } from 'smol-toml';
import { parseSocketPath } from './address.js';
import { ConfigError } from './config-error.js';
import { describeFsError } from './fs-error.js';

export const DEFAULT_CONTROL_SOCKET = '/run/switchyard/control.sock';

/**
 * Only `control.socket` from a config file, for the commands that talk to a running daemon
 * (status, restart, deploy, rollback). The rest of the file is the daemon's business: a pool
 * file a deploy user cannot read, or a php-fpm binary missing on the user's PATH, must not
 * stop `switchyard status`. Throws a ConfigError naming the key, like loadConfig.
 */
export function readControlSocket(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError('', `cannot read config file ${path}: ${describeFsError(error)}`, {
      cause: error,
    });
  }
  let data: Record<string, unknown>;
  try {
    data = parse(text) as Record<string, unknown>;
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    const what = (error.message.split('\n')[0] ?? '').replace(/^Invalid TOML document: /, '');
    throw new ConfigError(
      '',
      `TOML syntax error at line ${error.line}, column ${error.column}: ${what}`,
      {
        file: path,
        cause: error,
      },
    );
  }
  const control = data.control;
  const socket =
    typeof control === 'object' && control !== null && !Array.isArray(control)
      ? (control as Record<string, unknown>).socket
      : undefined;
  if (socket === undefined) return DEFAULT_CONTROL_SOCKET;
  if (typeof socket !== 'string') {
    throw new ConfigError('control.socket', 'expected a string, a unix socket path', {
      file: path,
    });
  }
  try {
    return parseSocketPath(socket, dirname(resolve(path)));
  } catch (error) {
    throw new ConfigError('control.socket', (error as Error).message, { file: path });
  }
}

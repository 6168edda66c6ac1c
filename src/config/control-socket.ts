import { dirname, resolve } from 'node:path';
import { parseSocketPath } from './address.js';
import { ConfigError } from './config-error.js';
import { parseToml, readConfigText } from './config-file.js';

export const DEFAULT_CONTROL_SOCKET = '/run/switchyard/control.sock';

/**
 * Only `control.socket` from a config file, for the commands that talk to a running daemon
 * (status, restart, deploy, rollback). The rest of the file is the daemon's business: a pool
 * file a deploy user cannot read, or a php-fpm binary missing on the user's PATH, must not
 * stop `switchyard status`. Throws a ConfigError naming the key, like loadConfig.
 */
export function readControlSocket(path: string): string {
  const parsed = parseToml(readConfigText(path), path);
  const data =
    typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
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

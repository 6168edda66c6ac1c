import { CodedError } from '../coded-error.js';
import type { ControlRefusalCode, ControlServerErrorCode } from './messages.js';

/** How to start the daemon, for messages that say it is not running. */
const START_HINT = 'start it with `systemctl start switchyard` or `switchyard daemon -c <file>`';

export type ControlErrorCode =
  /** No control socket (ENOENT), or a stale one nobody listens on (ECONNREFUSED). */
  | 'ERR_DAEMON_NOT_RUNNING'
  /** The socket (or its directory) refuses this user (EACCES, EPERM). */
  | 'ERR_CONTROL_PERMISSION'
  /** The daemon accepted the connection but did not answer in time. */
  | 'ERR_CONTROL_TIMEOUT'
  /** The connection failed otherwise, or closed before the answer was complete. */
  | 'ERR_CONTROL_CONNECTION'
  /** The answer was not what the control protocol says (another program on the socket?). */
  | 'ERR_CONTROL_PROTOCOL'
  /** Server start: a live process answers on the control socket. */
  | 'ERR_CONTROL_SOCKET_IN_USE'
  /** Server start: the socket could not be created, or given its mode or group. */
  | 'ERR_CONTROL_LISTEN'
  /** A refused request: the server's own code, passed through. */
  | ControlServerErrorCode
  | ControlRefusalCode
  /** Codes a newer daemon may add pass through as they are. */
  | `ERR_${string}`;

/**
 * A control socket failure, on either side. Callers branch on `code`; `message` is written
 * for the person at the terminal and says what to do.
 */
export class ControlError extends CodedError<ControlErrorCode> {
  override readonly name = 'ControlError';
  /** The HTTP status of a refused request; undefined when there was no answer. */
  readonly status: number | undefined;

  constructor(
    code: ControlErrorCode,
    message: string,
    options: { status?: number; cause?: unknown } = {},
  ) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
  }

  static notRunning(socketPath: string, cause?: unknown): ControlError {
    return new ControlError(
      'ERR_DAEMON_NOT_RUNNING',
      `the daemon is not running: no control socket at ${socketPath} (${START_HINT})`,
      { cause },
    );
  }

  static staleSocket(socketPath: string, cause?: unknown): ControlError {
    return new ControlError(
      'ERR_DAEMON_NOT_RUNNING',
      `the daemon is not running: nothing listens on the control socket ${socketPath}, ` +
        `a daemon that died left it behind (${START_HINT})`,
      { cause },
    );
  }

  static permission(socketPath: string, cause?: unknown): ControlError {
    return new ControlError(
      'ERR_CONTROL_PERMISSION',
      `permission denied on ${socketPath}: run as root or as a member of the socket's group (control.group)`,
      { cause },
    );
  }
}

export function isControlError(error: unknown): error is ControlError {
  return error instanceof ControlError;
}

/** The ControlError for a failed connect or request to the control socket. */
export function connectionError(socketPath: string, error: unknown): ControlError {
  if (error instanceof ControlError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return ControlError.notRunning(socketPath, error);
    case 'ECONNREFUSED':
      return ControlError.staleSocket(socketPath, error);
    case 'EACCES':
    case 'EPERM':
      return ControlError.permission(socketPath, error);
    default:
      return new ControlError(
        'ERR_CONTROL_CONNECTION',
        `cannot talk to switchyard on ${socketPath}: ${(error as Error).message}`,
        { cause: error },
      );
  }
}

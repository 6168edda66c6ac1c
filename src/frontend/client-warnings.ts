import type { Logger } from 'pino';
import { RateLimitedWarning } from '../rate-limited-warning.js';

/** Stable codes of the log lines a front writes when a client reaches one of its limits. */
export type ClientLimitCode =
  /** A connection beyond `limits.max_connections` was refused. */
  | 'ERR_TOO_MANY_CONNECTIONS'
  /** A connection made switchyard hold more than `limits.connection_buffer`: closed. */
  | 'ERR_CONNECTION_BUFFER'
  /** A request's params did not end within `limits.params_timeout`: its connection closed. */
  | 'ERR_PARAMS_TIMEOUT'
  /** accept(2) failed (out of file descriptors): those clients were turned away. */
  | 'ERR_ACCEPT'
  /** A client sent bytes that are not FastCGI: that connection closed. */
  | 'ERR_FCGI_MALFORMED';

/** The warnings one front shares among its connections, each at most a line per interval. */
export interface ClientWarnings {
  readonly tooManyConnections: RateLimitedWarning;
  readonly overBuffer: RateLimitedWarning;
  readonly paramsTimeout: RateLimitedWarning;
  readonly acceptFailed: RateLimitedWarning;
  readonly malformed: RateLimitedWarning;
  close(): void;
}

export function clientWarnings(logger: Logger, front: 'FastCGI' | 'HTTP'): ClientWarnings {
  const warning = (code: ClientLimitCode, message: string) =>
    new RateLimitedWarning(logger, code, message);
  const warnings = {
    tooManyConnections: warning(
      'ERR_TOO_MANY_CONNECTIONS',
      `${front} front: connections beyond limits.max_connections refused`,
    ),
    overBuffer: warning(
      'ERR_CONNECTION_BUFFER',
      `${front} front: a client connection held more than limits.connection_buffer: closed`,
    ),
    paramsTimeout: warning(
      'ERR_PARAMS_TIMEOUT',
      `${front} front: a request's params did not end within limits.params_timeout: connection closed`,
    ),
    malformed: warning(
      'ERR_FCGI_MALFORMED',
      `${front} front: malformed FastCGI from a client: closing that connection`,
    ),
    acceptFailed: warning(
      'ERR_ACCEPT',
      `${front} front: accepting a connection failed (out of file descriptors?): those clients were turned away, the front goes on`,
    ),
  };
  return {
    ...warnings,
    close: () => {
      for (const each of Object.values(warnings)) each.close();
    },
  };
}

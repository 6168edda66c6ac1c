import { CodedError } from '../coded-error.js';

/** Stable codes for malformed FastCGI input; callers branch on `code`, never on the message. */
export type FcgiProtocolErrorCode =
  /** Record header with a version other than 1. */
  | 'ERR_FCGI_BAD_VERSION'
  /** A record whose body does not have the layout its type requires. */
  | 'ERR_FCGI_BAD_RECORD'
  /** A name-value pair whose lengths run past the end of its stream. */
  | 'ERR_FCGI_TRUNCATED_PAIR'
  /** A name-value pair too long for one record, which php-fpm requires. */
  | 'ERR_FCGI_PAIR_TOO_LONG'
  /** A PARAMS stream larger than the configured cap. */
  | 'ERR_FCGI_PARAMS_TOO_LARGE';

export class FcgiProtocolError extends CodedError<FcgiProtocolErrorCode> {
  override readonly name = 'FcgiProtocolError';
}

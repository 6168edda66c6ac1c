import { CodedError } from '../coded-error.js';

/** Why a request got a generated answer instead of the application's. Stable codes for logs. */
export type BalancerErrorCode =
  /** No replica is in rotation for the serving release: 503 at once. */
  | 'ERR_NO_READY_REPLICA'
  /** Every slot busy and the admission queue full: 503 with Retry-After. */
  | 'ERR_QUEUE_FULL'
  /** Waited in the admission queue past limits.queue_timeout: 503 with Retry-After. */
  | 'ERR_QUEUE_TIMEOUT'
  /** No complete answer within limits.request_timeout: 504. */
  | 'ERR_REQUEST_TIMEOUT'
  /** The backend failed and the request could not be retried: 502. */
  | 'ERR_BACKEND_FAILED';

export class BalancerError extends CodedError<BalancerErrorCode> {
  override readonly name = 'BalancerError';
}

/** The HTTP status a generated answer carries for each code. */
export const STATUS_FOR: Record<BalancerErrorCode, number> = {
  ERR_NO_READY_REPLICA: 503,
  ERR_QUEUE_FULL: 503,
  ERR_QUEUE_TIMEOUT: 503,
  ERR_REQUEST_TIMEOUT: 504,
  ERR_BACKEND_FAILED: 502,
};

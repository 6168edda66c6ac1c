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
  | 'ERR_BACKEND_FAILED'
  /** Its session's lane already holds sessions.lane_queue waiting requests: 429 with Retry-After. */
  | 'ERR_LANE_FULL'
  /** Waited in its session's lane past sessions.lane_timeout: 503 with Retry-After. */
  | 'ERR_LANE_TIMEOUT'
  /** sessions.max_waiting requests already wait in lanes: 503 with Retry-After. */
  | 'ERR_LANES_FULL';

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
  ERR_LANE_FULL: 429,
  ERR_LANE_TIMEOUT: 503,
  ERR_LANES_FULL: 503,
};

/** Seconds a client is told to wait before it tries again, for the answers that have one. */
export const RETRY_AFTER_FOR: Partial<Record<BalancerErrorCode, number>> = {
  ERR_NO_READY_REPLICA: 1,
  ERR_QUEUE_FULL: 1,
  ERR_QUEUE_TIMEOUT: 1,
  ERR_LANE_FULL: 1,
  ERR_LANE_TIMEOUT: 1,
  ERR_LANES_FULL: 1,
};

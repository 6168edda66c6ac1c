import { CodedError } from '../coded-error.js';

/** Lifecycle of one replica. Only `ready` replicas take traffic. */
export type ReplicaState =
  | 'starting'
  | 'ready'
  | 'draining'
  | 'stopping'
  | 'stopped'
  | 'failed'
  | 'backing-off';

export const REPLICA_STATES: readonly ReplicaState[] = [
  'starting',
  'ready',
  'draining',
  'stopping',
  'stopped',
  'failed',
  'backing-off',
];

/**
 * Every legal move. Anything else is a bug in the actor, so it throws instead of being ignored.
 * `ready` cannot go straight to `stopping`: traffic must be drained first.
 */
export const ALLOWED_TRANSITIONS: Readonly<Record<ReplicaState, readonly ReplicaState[]>> = {
  starting: ['ready', 'failed', 'stopping'],
  ready: ['draining', 'failed'],
  draining: ['stopping', 'failed'],
  stopping: ['stopped', 'failed'],
  failed: ['backing-off'],
  'backing-off': ['starting', 'stopped'],
  stopped: ['starting'],
};

export type ReplicaStateErrorCode = 'ERR_REPLICA_TRANSITION';

export class ReplicaStateError extends CodedError<ReplicaStateErrorCode> {
  override readonly name = 'ReplicaStateError';
  readonly from: ReplicaState;
  readonly to: ReplicaState;

  constructor(from: ReplicaState, to: ReplicaState) {
    super('ERR_REPLICA_TRANSITION', `replica cannot go from '${from}' to '${to}'`);
    this.from = from;
    this.to = to;
  }
}

export function canTransition(from: ReplicaState, to: ReplicaState): boolean {
  return ALLOWED_TRANSITIONS[from].includes(to);
}

/** Returns `to` when the move is legal, so callers can write `state = transition(state, next)`. */
export function transition(from: ReplicaState, to: ReplicaState): ReplicaState {
  if (!canTransition(from, to)) throw new ReplicaStateError(from, to);
  return to;
}

import { describe, expect, it } from 'vitest';
import {
  canTransition,
  REPLICA_STATES,
  type ReplicaState,
  ReplicaStateError,
  transition,
} from '../../../src/supervisor/replica-state.js';

const ALLOWED: readonly (readonly [ReplicaState, ReplicaState])[] = [
  ['starting', 'ready'],
  ['starting', 'failed'],
  ['starting', 'stopping'],
  ['ready', 'draining'],
  ['ready', 'failed'],
  ['draining', 'stopping'],
  ['draining', 'failed'],
  ['stopping', 'stopped'],
  ['stopping', 'failed'],
  ['failed', 'backing-off'],
  ['backing-off', 'starting'],
  ['backing-off', 'stopped'],
  ['stopped', 'starting'],
];

const isAllowed = (from: ReplicaState, to: ReplicaState): boolean =>
  ALLOWED.some(([a, b]) => a === from && b === to);

// Every ordered pair, so a transition added to the table by mistake is caught too.
const ALL_PAIRS = REPLICA_STATES.flatMap((from) =>
  REPLICA_STATES.map((to) => [from, to, isAllowed(from, to)] as const),
);

describe('replica state transitions', () => {
  it.each(ALL_PAIRS)('%s -> %s allowed: %s', (from, to, allowed) => {
    expect(canTransition(from, to)).toBe(allowed);
    if (allowed) {
      expect(transition(from, to)).toBe(to);
    } else {
      expect(() => transition(from, to)).toThrow(ReplicaStateError);
    }
  });

  it('names both states and carries a stable code', () => {
    let caught: unknown;
    try {
      transition('ready', 'stopping');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ReplicaStateError);
    const error = caught as ReplicaStateError;
    expect(error.code).toBe('ERR_REPLICA_TRANSITION');
    expect(error.from).toBe('ready');
    expect(error.to).toBe('stopping');
    expect(error.message).toContain("'ready'");
    expect(error.message).toContain("'stopping'");
  });
});

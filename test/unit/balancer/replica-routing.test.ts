import { describe, expect, it } from 'vitest';
import { canTransition, type ReplicaRouting } from '../../../src/balancer/replica-routing.js';

describe('replica routing transitions', () => {
  it.each<[ReplicaRouting, ReplicaRouting, boolean]>([
    ['active', 'unreachable', true],
    ['unreachable', 'active', true],
    ['active', 'draining', true],
    ['draining', 'active', false],
    ['draining', 'removed', true],
    ['removed', 'active', false],
    ['unreachable', 'draining', true],
  ])('%s → %s allowed: %s', (from, to, allowed) => {
    expect(canTransition(from, to)).toBe(allowed);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { affinityScore, affinitySeed, loadBound } from '../../../src/balancer/affinity.js';

/** The replica a session's point goes to among `names`, by the highest score. */
function owner(point: number, names: readonly string[]): string {
  let best = '';
  let bestScore = -1;
  for (const name of names) {
    const score = affinityScore(point, affinitySeed(name));
    if (score > bestScore) {
      best = name;
      bestScore = score;
    }
  }
  return best;
}

const points = Array.from({ length: 20_000 }, (_, i) => affinityScore(i, 0x9e3779b9));

describe('rendezvous affinity', () => {
  it.each([2, 3, 4, 8])('spreads sessions evenly over %i replicas', (count) => {
    const names = Array.from({ length: count }, (_, i) => `replica-${i + 1}`);
    const counts = new Map<string, number>();
    for (const point of points) {
      const name = owner(point, names);
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    const fair = points.length / count;
    for (const name of names) {
      expect(Math.abs((counts.get(name) ?? 0) - fair) / fair).toBeLessThan(0.05);
    }
  });

  it('moves only the sessions of a replica that leaves, and gives them back when it returns', () => {
    const all = ['replica-1', 'replica-2', 'replica-3'];
    const without = ['replica-1', 'replica-3'];
    let moved = 0;
    for (const point of points) {
      const before = owner(point, all);
      const during = owner(point, without);
      if (before !== 'replica-2') expect(during).toBe(before);
      else moved += 1;
      expect(owner(point, all)).toBe(before);
    }
    expect(moved / points.length).toBeGreaterThan(0.28);
    expect(moved / points.length).toBeLessThan(0.39);
  });

  it('sends the sessions of a leaving replica to both others, not to one', () => {
    const all = ['replica-1', 'replica-2', 'replica-3'];
    const heirs = new Map<string, number>();
    for (const point of points) {
      if (owner(point, all) !== 'replica-2') continue;
      const heir = owner(point, ['replica-1', 'replica-3']);
      heirs.set(heir, (heirs.get(heir) ?? 0) + 1);
    }
    const [a = 0, b = 0] = [...heirs.values()];
    expect(Math.min(a, b) / Math.max(a, b)).toBeGreaterThan(0.85);
  });

  it('keeps the least loaded replica within the load bound, whatever the loads', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(1000), { minLength: 1, maxLength: 16 }),
        fc.double({ min: 1, max: 4, noNaN: true }),
        (loads, factor) => {
          const total = loads.reduce((sum, load) => sum + load, 0);
          const bound = loadBound(total, loads.length, factor);
          expect(Math.min(...loads) + 1).toBeLessThanOrEqual(bound);
        },
      ),
    );
  });

  it('bounds a replica at factor times the mean load, counting the new request', () => {
    expect(loadBound(0, 2, 1.25)).toBe(1);
    expect(loadBound(7, 2, 1.25)).toBe(5);
    expect(loadBound(15, 2, 1)).toBe(8);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_BACKOFF } from '../../../src/supervisor/backoff.js';

describe('backoffDelay', () => {
  it('doubles per attempt between half and all of the exponential step', () => {
    expect(backoffDelay(0, 0)).toBe(250);
    expect(backoffDelay(0, 0.999999)).toBe(500);
    expect(backoffDelay(1, 0)).toBe(500);
    expect(backoffDelay(3, 0)).toBe(2_000);
    expect(backoffDelay(3, 0.5)).toBe(3_000);
  });

  it('never exceeds the cap and never drops below half of it once capped', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 200 }),
        fc.double({ min: 0, max: 0.999999, noNaN: true }),
        (attempt, random) => {
          const delay = backoffDelay(attempt, random);
          expect(delay).toBeLessThanOrEqual(DEFAULT_BACKOFF.maxMs);
          expect(delay).toBeGreaterThanOrEqual(
            Math.min(DEFAULT_BACKOFF.maxMs, DEFAULT_BACKOFF.baseMs * 2 ** attempt) / 2 - 1,
          );
        },
      ),
    );
  });

  it('grows with the attempt for the same jitter', () => {
    for (let attempt = 0; attempt < 6; attempt += 1) {
      expect(backoffDelay(attempt + 1, 0.3)).toBeGreaterThan(backoffDelay(attempt, 0.3));
    }
  });
});

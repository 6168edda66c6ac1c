import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AvailableMemory,
  decideSurge,
  fixedSurge,
  formatBytes,
  type SurgeInputs,
  surgeMessage,
} from '../../../src/supervisor/surge-decision.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const host = (bytes: number): AvailableMemory => ({ bytes, limitedBy: 'host' });

describe('decideSurge', () => {
  it('surges when the available memory covers another set and the margin, and says with how much', () => {
    const decision = decideSurge({
      replicaBytes: [200 * MiB, 212 * MiB],
      extraReplicas: 2,
      available: host(9.8 * GiB),
      marginBytes: 256 * MiB,
    });
    expect(decision).toEqual({
      surge: true,
      reason: 'needs 412 MiB for 2 more replicas and a 256 MiB margin, 9.8 GiB available',
    });
  });

  it('does not surge when it does not, and names the cgroup when its limit is what is short', () => {
    const decision = decideSurge({
      replicaBytes: [206 * MiB, 206 * MiB],
      extraReplicas: 2,
      available: { bytes: 180 * MiB, limitedBy: 'cgroup' },
      marginBytes: 0,
    });
    expect(decision).toEqual({
      surge: false,
      reason: "needs 412 MiB for 2 more replicas, 180 MiB available under the cgroup's memory.max",
    });
  });

  it('counts the margin: enough for the replicas but not for the margin is no surge', () => {
    const inputs = {
      replicaBytes: [100 * MiB, 100 * MiB],
      extraReplicas: 2,
      available: host(300 * MiB),
    };
    expect(decideSurge({ ...inputs, marginBytes: 100 * MiB }).surge).toBe(true);
    expect(decideSurge({ ...inputs, marginBytes: 100 * MiB + 1 }).surge).toBe(false);
  });

  it('estimates each extra replica as the mean of the running ones: a restart adds one', () => {
    const decision = decideSurge({
      replicaBytes: [100 * MiB, 300 * MiB],
      extraReplicas: 1,
      available: host(GiB),
      marginBytes: 0,
    });
    expect(decision.reason).toBe('needs 200 MiB for 1 more replica, 1.0 GiB available');
  });

  it('does not surge with nothing running to measure', () => {
    expect(
      decideSurge({
        replicaBytes: [],
        extraReplicas: 2,
        available: host(64 * GiB),
        marginBytes: 0,
      }),
    ).toEqual({ surge: false, reason: 'no replica is running to measure' });
  });

  const inputs = fc.record({
    replicaBytes: fc.array(fc.integer({ min: 0, max: 8 * GiB }), { minLength: 1, maxLength: 64 }),
    extraReplicas: fc.integer({ min: 1, max: 64 }),
    available: fc.record({
      bytes: fc.integer({ min: 0, max: 2 ** 44 }),
      limitedBy: fc.constantFrom('host' as const, 'cgroup' as const),
    }),
    marginBytes: fc.integer({ min: 0, max: 64 * GiB }),
  });

  it('surges exactly when the mean replica times the extra ones, plus the margin, fits', () => {
    fc.assert(
      fc.property(inputs, (input: SurgeInputs) => {
        const mean = input.replicaBytes.reduce((a, b) => a + b, 0) / input.replicaBytes.length;
        const needed = Math.ceil(mean * input.extraReplicas) + input.marginBytes;
        expect(decideSurge(input).surge).toBe(needed <= input.available.bytes);
      }),
    );
  });

  it('never turns yes into no with more memory, nor no into yes with a larger margin', () => {
    fc.assert(
      fc.property(inputs, fc.integer({ min: 0, max: 2 ** 40 }), (input, more) => {
        const richer = {
          ...input,
          available: { ...input.available, bytes: input.available.bytes + more },
        };
        if (decideSurge(input).surge) expect(decideSurge(richer).surge).toBe(true);
        const stricter = { ...input, marginBytes: input.marginBytes + more };
        if (!decideSurge(input).surge) expect(decideSurge(stricter).surge).toBe(false);
      }),
    );
  });

  it('always says what is available', () => {
    fc.assert(
      fc.property(inputs, (input) => {
        expect(decideSurge(input).reason).toContain(
          `${formatBytes(input.available.bytes)} available`,
        );
      }),
    );
  });
});

describe('fixedSurge and surgeMessage', () => {
  it('names the setting when it is true or false', () => {
    expect(fixedSurge(true)).toEqual({ surge: true, reason: 'replicas.surge = true' });
    expect(fixedSurge(false)).toEqual({ surge: false, reason: 'replicas.surge = false' });
  });

  it('says what happens instead of a surge: half switch at a time, or one restarts at a time', () => {
    const no = { surge: false, reason: 'needs 412 MiB, 180 MiB available' };
    expect(surgeMessage(no, 'switch')).toBe(
      'surge: no (needs 412 MiB, 180 MiB available): half the replicas switch at a time',
    );
    expect(surgeMessage(no, 'restart')).toBe(
      'surge: no (needs 412 MiB, 180 MiB available): one replica restarts at a time',
    );
    expect(surgeMessage({ surge: true, reason: 'replicas.surge = true' }, 'switch')).toBe(
      'surge: yes (replicas.surge = true)',
    );
  });
});

describe('formatBytes', () => {
  it('uses KiB, whole MiB below a GiB, and tenths of GiB above', () => {
    expect(formatBytes(300 * 1024)).toBe('300 KiB');
    expect(formatBytes(412 * MiB)).toBe('412 MiB');
    expect(formatBytes(9.8 * GiB)).toBe('9.8 GiB');
    expect(formatBytes(0)).toBe('0 KiB');
  });
});

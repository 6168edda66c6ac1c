import { describe, expect, it } from 'vitest';
import type { StuckLoadRecord, StuckPage } from '../../../bench/stuck-load.js';
import { type StuckRun, stuckMetrics, stuckTimes } from '../../../bench/stuck-metrics.js';

// The benchmark's definitions of "slow from", "fast again" and "answered again", on runs
// made up here: times are ms, the hanging request sent at 1000.

const HOLDER_AT = 1000;

function request(
  page: StuckPage,
  sentAt: number,
  latencyMs: number,
  status: number | null = 200,
): StuckLoadRecord {
  return { page, sentAt, latencyMs, status, error: status === null ? 'cut off' : null };
}

function run(records: StuckLoadRecord[], actions: StuckRun['actions'] = []): StuckRun {
  return {
    setup: 'x',
    round: 1,
    startedAt: 0,
    holderSentAt: HOLDER_AT,
    records: [request('holder', HOLDER_AT, 5000, null), ...records].sort(
      (a, b) => a.sentAt - b.sentAt,
    ),
    actions,
  };
}

describe('stuck benchmark metrics', () => {
  it('a run whose no-session page stays fast is never slow', () => {
    const times = stuckTimes(run([request('plain', 500, 900), request('plain', 1500, 3)]));
    // The slow request before the hang does not count.
    expect(times.slowFromS).toBeNull();
    expect(times.fastAgainS).toBe(0);
  });

  it('slow from the first slow or failed request after the hang, fast again after the last', () => {
    const times = stuckTimes(
      run([
        request('plain', 1100, 3),
        request('plain', 1200, 800),
        request('plain', 1300, 3),
        request('plain', 1400, 10, 502),
        request('plain', 1500, 3),
        request('plain', 1600, 3),
      ]),
    );
    expect(times.slowFromS).toBeCloseTo(0.2);
    expect(times.fastAgainS).toBeCloseTo(0.5);
  });

  it('slow to the last request: not fast again', () => {
    const times = stuckTimes(
      run([request('plain', 1100, 3), request('plain', 1200, 30_000, null)]),
    );
    expect(times.slowFromS).toBeCloseTo(0.2);
    expect(times.fastAgainS).toBeNull();
  });

  it("the stuck user's first 200 counts by its answer time, only for requests sent 1 s after the hang", () => {
    const times = stuckTimes(
      run([
        // Reached the lock before the holder: not a recovery.
        request('session', 1010, 5),
        request('session', 2500, 100, 503),
        request('session', 3000, 4000),
        request('session', 5000, 500),
      ]),
    );
    expect(times.sessionAgainS).toBeCloseTo(4.5);
    expect(stuckTimes(run([request('session', 1010, 5)])).sessionAgainS).toBeNull();
  });

  it('names each action with its time after the hang', () => {
    const times = stuckTimes(run([], [{ what: 'restarted', at: 8900 }]));
    expect(times.actions).toEqual(['restarted 7.9 s']);
  });

  it('counts the no-session failures by kind and the session requests after the hang', () => {
    const m = stuckMetrics([
      run([
        request('plain', 1100, 3),
        request('plain', 1200, 10, 502),
        request('plain', 1300, 10, 502),
        request('session', 900, 3),
        request('session', 1200, 5000, 503),
      ]),
    ]);
    expect(m.plainSent).toBe(3);
    expect(m.plainFailed).toBe(2);
    expect(m.plainFailures).toBe('502 ×2');
    expect(m.sessionOutcomes).toBe('503 ×1');
    expect(m.holderOutcomes).toBe('cut off ×1');
  });
});

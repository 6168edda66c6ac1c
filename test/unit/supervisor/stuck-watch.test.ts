import { describe, expect, it } from 'vitest';
import type { ReplicaPool, SlotRequest } from '../../../src/balancer/replica-pool.js';
import type { Exchange } from '../../../src/request/exchange.js';
import { decideReplacement, STUCK_BACKOFF } from '../../../src/supervisor/stuck-replacement.js';
import {
  lookIntervalMs,
  type StuckReport,
  StuckWatch,
  stuckRequests,
  stuckThreshold,
} from '../../../src/supervisor/stuck-watch.js';

const request = (startedAt: number, held: SlotRequest['held'] = 'running'): SlotRequest => ({
  exchange: {} as Exchange,
  startedAt,
  held,
});

/** What StuckWatch reads of a pool: its capacity and its slots' requests. */
function poolWith(capacity: number, requests: () => SlotRequest[]): ReplicaPool {
  return { spec: { capacity }, slotRequests: requests } as unknown as ReplicaPool;
}

describe('stuck requests', () => {
  it('counts a request stuck past stuck_after, and a given-up slot at once, oldest first', () => {
    const slots = [request(5_000), request(1_000), request(9_500, 'stuck'), request(9_000)];
    const stuck = stuckRequests(slots, 10_000, 4_000);
    expect(stuck.map((entry) => entry.startedAt)).toEqual([1_000, 5_000, 9_500]);
  });

  it('takes stuck_workers, "all" as the capacity, never more than it', () => {
    expect(stuckThreshold({ stuckAfterMs: 1, stuckWorkers: 'all' }, 4)).toBe(4);
    expect(stuckThreshold({ stuckAfterMs: 1, stuckWorkers: 2 }, 4)).toBe(2);
    expect(stuckThreshold({ stuckAfterMs: 1, stuckWorkers: 9 }, 4)).toBe(4);
  });

  it('looks every quarter of stuck_after, within 0.25 s and 5 s', () => {
    expect(lookIntervalMs(60_000)).toBe(5_000);
    expect(lookIntervalMs(4_000)).toBe(1_000);
    expect(lookIntervalMs(100)).toBe(250);
  });
});

describe('StuckWatch', () => {
  it('reports stuck requests, each as fresh once, the replica stuck at the threshold, and the all-clear once', () => {
    let slots: SlotRequest[] = [];
    const reports: StuckReport[] = [];
    const watch = new StuckWatch(
      poolWith(2, () => slots),
      { stuckAfterMs: 1_000, stuckWorkers: 'all' },
      (report) => reports.push(report),
    );
    watch.look(500);
    expect(reports).toEqual([]);
    const first = request(0);
    slots = [first, request(900)];
    watch.look(1_500);
    expect(reports.at(-1)).toMatchObject({ replicaStuck: false });
    expect(reports.at(-1)?.fresh).toEqual([first]);
    watch.look(2_000);
    expect(reports.at(-1)?.replicaStuck).toBe(true);
    expect(reports.at(-1)?.fresh.map((entry) => entry.startedAt)).toEqual([900]);
    slots = [];
    watch.look(3_000);
    expect(reports.at(-1)).toEqual({ stuck: [], fresh: [], replicaStuck: false });
    const count = reports.length;
    watch.look(4_000);
    expect(reports).toHaveLength(count);
  });
});

describe('decideReplacement', () => {
  it('replaces a first stuck replica at once', () => {
    const decision = decideReplacement({ inRow: 0, lastAt: null }, 100_000, 60_000, 0.5);
    expect(decision).toEqual({
      history: { inRow: 1, lastAt: 100_000 },
      notBefore: 100_000,
      delayMs: 0,
    });
  });

  it('backs off one stuck again within the window, doubling, capped', () => {
    const second = decideReplacement({ inRow: 1, lastAt: 0 }, 70_000, 60_000, 0);
    expect(second.history.inRow).toBe(2);
    expect(second.delayMs).toBe(STUCK_BACKOFF.baseMs / 2);
    const third = decideReplacement(second.history, 140_000, 60_000, 0.999);
    expect(third.delayMs).toBeGreaterThan(second.delayMs);
    const late = decideReplacement({ inRow: 30, lastAt: 0 }, 1_000, 60_000, 0.999);
    expect(late.delayMs).toBeLessThanOrEqual(STUCK_BACKOFF.maxMs);
  });

  it('starts afresh once a replacement held longer than the window', () => {
    const window = 60_000 + STUCK_BACKOFF.maxMs;
    const decision = decideReplacement({ inRow: 4, lastAt: 0 }, window, 60_000, 0.5);
    expect(decision.history.inRow).toBe(1);
    expect(decision.delayMs).toBe(0);
  });
});

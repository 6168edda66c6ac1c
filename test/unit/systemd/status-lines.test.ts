import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CoalescedStatus } from '../../../src/systemd/coalesced-status.js';
import { statusLine } from '../../../src/systemd/status-line.js';

describe('statusLine', () => {
  it('names the releases by their directory, the replicas ready, and what runs', () => {
    expect(
      statusLine({
        serving: '/srv/app/releases/42',
        switchingTo: null,
        ready: 2,
        total: 2,
        operation: null,
      }),
    ).toBe('serving 42; 2/2 replicas ready');
    expect(
      statusLine({
        serving: '/srv/app/releases/42',
        switchingTo: '/srv/app/releases/43',
        ready: 1,
        total: 2,
        operation: 'a deploy of /srv/app/releases/43',
      }),
    ).toBe('serving 42; 1/2 replicas ready; switching to 43; deploy of /srv/app/releases/43');
  });
});

describe('CoalescedStatus', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends the first line at once, the newest of a burst when the interval ends, and never one unchanged', () => {
    const sent: string[] = [];
    const status = new CoalescedStatus((text) => sent.push(text), 1_000);
    status.update('a');
    expect(sent).toEqual(['a']);
    for (let i = 0; i < 100; i += 1) status.update(`b${i}`);
    expect(sent).toEqual(['a']);
    vi.advanceTimersByTime(1_000);
    expect(sent).toEqual(['a', 'b99']);
    status.update('b99');
    vi.advanceTimersByTime(5_000);
    expect(sent).toEqual(['a', 'b99']);
    status.update('c');
    expect(sent).toEqual(['a', 'b99', 'c']);
    status.update('d');
    status.close();
    vi.advanceTimersByTime(5_000);
    expect(sent).toEqual(['a', 'b99', 'c']);
  });
});

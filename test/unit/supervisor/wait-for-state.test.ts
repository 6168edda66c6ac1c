import { describe, expect, it } from 'vitest';
import { type ChangeSource, waitForState } from '../../../src/supervisor/wait-for-state.js';

/** A change source the test fires by hand, counting its listeners. */
function changeSource(): { changes: ChangeSource; fire: () => void; listeners: () => number } {
  const listeners = new Set<() => void>();
  return {
    changes: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    fire: () => {
      for (const listener of [...listeners]) listener();
    },
    listeners: () => listeners.size,
  };
}

describe('waitForState', () => {
  it('answers at once when the state already holds', async () => {
    const source = changeSource();
    const answer = await waitForState({
      changes: source.changes,
      judge: () => 'there',
      timeoutMs: 10_000,
      onTimeout: () => 'late',
    });
    expect(answer).toBe('there');
    expect(source.listeners()).toBe(0);
  });

  it('asks again on each change, and only then', async () => {
    const source = changeSource();
    let level = 0;
    let asked = 0;
    const waiting = waitForState({
      changes: source.changes,
      judge: () => {
        asked += 1;
        return level >= 2 ? level : undefined;
      },
      timeoutMs: 10_000,
      onTimeout: () => -1,
    });
    level = 1;
    source.fire();
    level = 2;
    source.fire();
    expect(await waiting).toBe(2);
    expect(asked).toBe(3);
    expect(source.listeners()).toBe(0);
  });

  it('ends with onTimeout when nothing changes in time', async () => {
    const source = changeSource();
    const started = Date.now();
    const answer = await waitForState({
      changes: source.changes,
      judge: () => undefined,
      timeoutMs: 50,
      onTimeout: () => 'late',
    });
    expect(answer).toBe('late');
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(source.listeners()).toBe(0);
  });

  it('ends with the abort reason when its signal aborts', async () => {
    const source = changeSource();
    const controller = new AbortController();
    const waiting = waitForState<string>({
      changes: source.changes,
      judge: () => undefined,
      timeoutMs: 10_000,
      onTimeout: () => 'late',
      signal: controller.signal,
    });
    controller.abort('retarget');
    expect(await waiting).toBe('retarget');
    expect(source.listeners()).toBe(0);
  });

  it('ends at once with the abort reason when its signal was aborted before', async () => {
    const source = changeSource();
    const controller = new AbortController();
    controller.abort('retarget');
    const answer = await waitForState<string>({
      changes: source.changes,
      judge: () => 'there',
      timeoutMs: 10_000,
      onTimeout: () => 'late',
      signal: controller.signal,
    });
    expect(answer).toBe('retarget');
    expect(source.listeners()).toBe(0);
  });

  it('rejects with the error of a judge that throws, and leaves no listener behind', async () => {
    const source = changeSource();
    let broken = false;
    let asked = 0;
    const waiting = waitForState({
      changes: source.changes,
      judge: () => {
        asked += 1;
        if (broken) throw new Error('the judge broke');
        return undefined;
      },
      timeoutMs: 10_000,
      onTimeout: () => 'late',
    });
    broken = true;
    source.fire();
    await expect(waiting).rejects.toThrow('the judge broke');
    expect(source.listeners()).toBe(0);
    source.fire();
    expect(asked).toBe(2);
  });
});

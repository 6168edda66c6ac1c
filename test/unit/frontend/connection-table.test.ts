import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConnectionTable, type TableEntry } from '../../../src/frontend/connection-table.js';

class Entry implements TableEntry {
  busy = false;
  lastActiveAt = Date.now();
  let = false;
  letGo(): void {
    this.let = true;
  }
}

describe('ConnectionTable', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('admits up to its limit, then lets the idlest go for a newcomer, never a busy one', () => {
    const table = new ConnectionTable<number, Entry>(3, 60_000);
    const entries = [new Entry(), new Entry(), new Entry()];
    entries.forEach((entry, i) => {
      vi.advanceTimersByTime(10);
      entry.lastActiveAt = Date.now();
      expect(table.makeRoom()).toEqual({ admitted: true, madeRoom: false });
      table.add(i, entry);
    });
    const [oldest, middle, newest] = entries as [Entry, Entry, Entry];
    oldest.busy = true;
    expect(table.makeRoom()).toEqual({ admitted: true, madeRoom: true });
    expect([oldest.let, middle.let, newest.let]).toEqual([false, true, false]);
    middle.busy = true;
    newest.busy = true;
    expect(table.makeRoom()).toEqual({ admitted: false, madeRoom: false });
    table.close();
  });

  it('lets connections idle for the idle time go, not busy or recent ones', () => {
    const table = new ConnectionTable<string, Entry>(10, 1_000);
    const idle = new Entry();
    const busy = new Entry();
    busy.busy = true;
    table.add('idle', idle);
    table.add('busy', busy);
    vi.advanceTimersByTime(500);
    const recent = new Entry();
    recent.lastActiveAt = Date.now();
    table.add('recent', recent);
    vi.advanceTimersByTime(750);
    expect([idle.let, busy.let, recent.let]).toEqual([true, false, false]);
    vi.advanceTimersByTime(1_000);
    expect(recent.let).toBe(true);
    expect(busy.let).toBe(false);
    table.close();
  });
});

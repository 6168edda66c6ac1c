import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RateLimitedWarning } from '../../src/rate-limited-warning.js';

function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'warn' },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { logger, lines };
}

describe('RateLimitedWarning', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('logs the first at once and the rest of the interval as one line with their count', () => {
    const { logger, lines } = capturingLogger();
    const warning = new RateLimitedWarning(logger, 'ERR_X', 'refused', 10_000);
    warning.note({ limit: 4 });
    expect(lines).toEqual([expect.objectContaining({ code: 'ERR_X', count: 1, limit: 4 })]);
    for (let i = 0; i < 999; i += 1) warning.note({ limit: 4 });
    expect(lines).toHaveLength(1);
    vi.advanceTimersByTime(10_000);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ code: 'ERR_X', count: 999, msg: 'refused' });
    // A quiet interval: nothing to say, and the next one is logged at once again.
    vi.advanceTimersByTime(10_000);
    expect(lines).toHaveLength(2);
    vi.advanceTimersByTime(60_000);
    warning.note();
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatchObject({ count: 1 });
  });

  it('drops what is pending on close', () => {
    const { logger, lines } = capturingLogger();
    const warning = new RateLimitedWarning(logger, 'ERR_X', 'refused', 10_000);
    warning.note();
    warning.note();
    warning.close();
    vi.advanceTimersByTime(20_000);
    expect(lines).toHaveLength(1);
  });
});

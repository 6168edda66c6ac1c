import { describe, expect, it } from 'vitest';
import { SlowlogEntries } from '../../../src/supervisor/workers/slowlog-entries.js';

/** Captured from php-fpm 8.2.36's slow log (request_slowlog_timeout = 1s), as written. */
const CAPTURED = `
[02-Dec-2026 08:07:30]  [pool app] pid 22250
script_filename = /tmp/bcap/www/sleep.php
[0x00007f66f2e15090] usleep() /tmp/bcap/www/sleep.php:1

[02-Dec-2026 08:07:30]  [pool app] pid 22251
script_filename = /tmp/bcap/www/sess.php
[0x00007f66f2e15090] usleep() /tmp/bcap/www/sess.php:1

[02-Dec-2026 08:07:31]  [pool app] pid 22249
script_filename = /tmp/bcap/www/sess.php
[0x00007f66f2e15090] session_start() /tmp/bcap/www/sess.php:1
`;

describe('SlowlogEntries', () => {
  it('splits a real slow log into entries, the last one on flush', () => {
    const entries = new SlowlogEntries(8192);
    const done = entries.push(CAPTURED);
    expect(done).toEqual([
      {
        pid: 22250,
        script: '/tmp/bcap/www/sleep.php',
        trace: ['[0x00007f66f2e15090] usleep() /tmp/bcap/www/sleep.php:1'],
        truncated: false,
      },
      {
        pid: 22251,
        script: '/tmp/bcap/www/sess.php',
        trace: ['[0x00007f66f2e15090] usleep() /tmp/bcap/www/sess.php:1'],
        truncated: false,
      },
    ]);
    expect(entries.flush()).toEqual({
      pid: 22249,
      script: '/tmp/bcap/www/sess.php',
      trace: ['[0x00007f66f2e15090] session_start() /tmp/bcap/www/sess.php:1'],
      truncated: false,
    });
    expect(entries.flush()).toBeNull();
  });

  it('reads text that arrives in pieces, split anywhere', () => {
    const entries = new SlowlogEntries(8192);
    const found = [];
    for (let at = 0; at < CAPTURED.length; at += 7) {
      found.push(...entries.push(CAPTURED.slice(at, at + 7)));
    }
    const last = entries.flush();
    expect([...found, last].map((entry) => entry?.pid)).toEqual([22250, 22251, 22249]);
  });

  it('cuts an entry at its bound, and a line that never ends', () => {
    const entries = new SlowlogEntries(200);
    const deep = Array.from({ length: 50 }, (_, i) => `[0x${i}] f${i}() /srv/a.php:${i}`).join(
      '\n',
    );
    entries.push(
      `\n[02-Dec-2026 08:07:30]  [pool app] pid 7\nscript_filename = /srv/a.php\n${deep}\n`,
    );
    const entry = entries.flush();
    expect(entry?.truncated).toBe(true);
    expect(entry?.trace.join('\n').length).toBeLessThan(200);
    expect(entry?.trace[0]).toBe('[0x0] f0() /srv/a.php:0');
    entries.push('x'.repeat(10_000));
    const runaway = entries.flush();
    expect(runaway?.truncated).toBe(true);
    expect(runaway?.pid).toBeNull();
  });
});

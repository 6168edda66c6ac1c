import { describe, expect, it } from 'vitest';
import type { WatchdogConfig } from '../../../src/config/config-types.js';
import { parseConfig } from '../../../src/config/load-config.js';
import { configRefusal } from '../../support/config-refusal.js';
import { MINIMAL_CONFIG } from '../../support/minimal-config.js';

const HEAD = `
[listen]
fastcgi = "unix:/run/switchyard/app.sock"

[release]
symlink = "/srv/app/current"
`;

// Absolute programs, so the test does not depend on what PATH holds.
const PHP_FPM = `${HEAD}
[replicas]
kind = "php-fpm"
capacity = 4

[replicas.php_fpm]
binary = ${JSON.stringify(process.execPath)}
`;

const COMMAND = `${HEAD}
[replicas]
kind = "command"
capacity = 4

[replicas.command]
argv = [${JSON.stringify(process.execPath)}]
`;

function watchdog(table: string, head = PHP_FPM, extra = ''): WatchdogConfig {
  return parseConfig(`${head}${extra}\n[watchdog]\n${table}\n`, '/etc/switchyard').watchdog;
}

function refusal(table: string, head = PHP_FPM): { key: string; reason: string } {
  return configRefusal(() => watchdog(table, head));
}

describe('[watchdog]', () => {
  it('is in force with its defaults without the table', () => {
    expect(parseConfig(MINIMAL_CONFIG, '/etc/switchyard').watchdog).toEqual<WatchdogConfig>({
      stuckAfterMs: 60_000,
      stuckWorkers: 'all',
      abandonAfterMs: 30_000,
      slowlogMs: null,
    });
  });

  it('takes abandon_after from drain.timeout unless set', () => {
    const drain = '\n[drain]\ntimeout = "90s"\n';
    expect(watchdog('', PHP_FPM, drain).abandonAfterMs).toBe(90_000);
    expect(watchdog('abandon_after = "5s"', PHP_FPM, drain).abandonAfterMs).toBe(5_000);
  });

  it('reads every key', () => {
    expect(
      watchdog(
        ['stuck_after = "20s"', 'stuck_workers = 3', 'abandon_after = "2m"', 'slowlog = "5s"'].join(
          '\n',
        ),
      ),
    ).toEqual<WatchdogConfig>({
      stuckAfterMs: 20_000,
      stuckWorkers: 3,
      abandonAfterMs: 120_000,
      slowlogMs: 5_000,
    });
  });

  it('accepts stuck_workers up to the capacity, and "all"', () => {
    expect(watchdog('stuck_workers = 4').stuckWorkers).toBe(4);
    expect(watchdog('stuck_workers = 1').stuckWorkers).toBe(1);
    expect(watchdog('stuck_workers = "all"').stuckWorkers).toBe('all');
  });

  it('accepts slowlog = false, and a slow log with php-fpm replicas only', () => {
    expect(watchdog('slowlog = false').slowlogMs).toBeNull();
    expect(watchdog('slowlog = false', COMMAND).slowlogMs).toBeNull();
    expect(watchdog('slowlog = "2m"').slowlogMs).toBe(120_000);
  });

  it.each([
    [
      'stuck_workers above the capacity',
      'stuck_workers = 5',
      PHP_FPM,
      'watchdog.stuck_workers',
      '5 is more than replicas.capacity (4): a replica never has more slots stuck, so it would never be replaced; use at most 4, or "all"',
    ],
    [
      'stuck_workers above the default capacity of external replicas',
      'stuck_workers = 9',
      MINIMAL_CONFIG,
      'watchdog.stuck_workers',
      '9 is more than replicas.capacity (8): a replica never has more slots stuck, so it would never be replaced; use at most 8, or "all"',
    ],
    [
      'stuck_workers = 0',
      'stuck_workers = 0',
      PHP_FPM,
      'watchdog.stuck_workers',
      'expected an integer of at least 1 or "all", got integer 0',
    ],
    [
      'a fractional stuck_workers',
      'stuck_workers = 1.5',
      PHP_FPM,
      'watchdog.stuck_workers',
      'expected an integer of at least 1 or "all", got float 1.5',
    ],
    [
      'a word other than "all"',
      'stuck_workers = "half"',
      PHP_FPM,
      'watchdog.stuck_workers',
      'expected an integer of at least 1 or "all", got string "half"',
    ],
    [
      'stuck_workers of the wrong type',
      'stuck_workers = true',
      PHP_FPM,
      'watchdog.stuck_workers',
      'expected an integer of at least 1 or "all", got boolean true',
    ],
    [
      'stuck_after = 0',
      'stuck_after = "0"',
      PHP_FPM,
      'watchdog.stuck_after',
      'must be longer than 0',
    ],
    [
      'a stuck_after without unit',
      'stuck_after = "60"',
      PHP_FPM,
      'watchdog.stuck_after',
      '"60" has no unit: use e.g. 500ms, 5s, 2m',
    ],
    [
      'abandon_after = 0',
      'abandon_after = "0"',
      PHP_FPM,
      'watchdog.abandon_after',
      'must be longer than 0',
    ],
    [
      'slowlog = true',
      'slowlog = true',
      PHP_FPM,
      'watchdog.slowlog',
      'expected a duration such as "5s", or false, got boolean true',
    ],
    [
      'a slowlog below a second',
      'slowlog = "500ms"',
      PHP_FPM,
      'watchdog.slowlog',
      '"500ms": php-fpm\'s request_slowlog_timeout takes whole seconds, at least "1s"; false turns the slow log off',
    ],
    [
      'a slowlog of a fraction of seconds',
      'slowlog = "1.5s"',
      PHP_FPM,
      'watchdog.slowlog',
      '"1.5s": php-fpm\'s request_slowlog_timeout takes whole seconds, at least "1s"; false turns the slow log off',
    ],
    [
      'a slowlog with command replicas',
      'slowlog = "5s"',
      COMMAND,
      'watchdog.slowlog',
      'only for replicas.kind "php-fpm", not "command": the slow log is php-fpm\'s own (request_slowlog_timeout); set it to false',
    ],
    [
      'a slowlog with external replicas',
      'slowlog = "5s"',
      MINIMAL_CONFIG,
      'watchdog.slowlog',
      'only for replicas.kind "php-fpm", not "external": the slow log is php-fpm\'s own (request_slowlog_timeout); set it to false',
    ],
    [
      'an unknown key',
      'interval = "5s"',
      PHP_FPM,
      'watchdog.interval',
      'unknown key; known keys: stuck_after, stuck_workers, abandon_after, slowlog',
    ],
  ])('refuses %s, naming the key', (_name, table, head, key, reason) => {
    expect(refusal(table, head)).toEqual({ key, reason });
  });
});

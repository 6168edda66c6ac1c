import { describe, expect, it } from 'vitest';
import type { ConfigError } from '../../../src/config/config-error.js';
import type { SessionsConfig } from '../../../src/config/config-types.js';
import { parseConfig } from '../../../src/config/load-config.js';
import { configRefusal } from '../../support/config-refusal.js';
import { MINIMAL_CONFIG } from '../../support/minimal-config.js';

function sessions(table: string, limits = ''): SessionsConfig | null {
  return parseConfig(`${MINIMAL_CONFIG}${limits}\n[sessions]\n${table}\n`, '/etc/switchyard')
    .sessions;
}

function refusal(table: string): { key: string; reason: string } {
  return configRefusal(() => sessions(table));
}

describe('[sessions]', () => {
  it('is off without the table', () => {
    expect(parseConfig(MINIMAL_CONFIG, '/etc/switchyard').sessions).toBeNull();
  });

  it('turns lanes on with PHP defaults when the table is present, even empty', () => {
    expect(sessions('')).toEqual<SessionsConfig>({
      cookies: ['PHPSESSID'],
      params: [],
      perSession: 1,
      laneQueue: 64,
      laneTimeoutMs: 5_000,
      maxWaiting: 4096,
      warnLane: 8,
      affinity: 'none',
      affinityLoad: 1.25,
    });
  });

  it('takes lane_timeout from limits.queue_timeout unless set', () => {
    expect(sessions('', '[limits]\nqueue_timeout = "12s"')?.laneTimeoutMs).toBe(12_000);
    expect(sessions('lane_timeout = "2s"', '[limits]\nqueue_timeout = "12s"')?.laneTimeoutMs).toBe(
      2_000,
    );
  });

  it('reads every key', () => {
    expect(
      sessions(
        [
          'cookies = ["laravel_session", "PHPSESSID"]',
          'params = ["_s"]',
          'per_session = 0',
          'lane_queue = 16',
          'lane_timeout = "30s"',
          'max_waiting = 100',
          'warn_lane = 3',
          'affinity = "session"',
          'affinity_load = 1.5',
        ].join('\n'),
      ),
    ).toEqual<SessionsConfig>({
      cookies: ['laravel_session', 'PHPSESSID'],
      params: ['_s'],
      perSession: 0,
      laneQueue: 16,
      laneTimeoutMs: 30_000,
      maxWaiting: 100,
      warnLane: 3,
      affinity: 'session',
      affinityLoad: 1.5,
    });
  });

  it.each([
    { table: 'cookies = ["PHP SESSID"]', key: 'sessions.cookies[0]' },
    { table: 'cookies = ["a=b"]', key: 'sessions.cookies[0]' },
    { table: 'cookies = [""]', key: 'sessions.cookies[0]' },
    { table: 'cookies = ["A", "A"]', key: 'sessions.cookies' },
    { table: 'params = ["a&b"]', key: 'sessions.params[0]' },
    { table: 'cookies = []', key: 'sessions.cookies' },
    { table: 'per_session = -1', key: 'sessions.per_session' },
    { table: 'per_session = 100000', key: 'sessions.per_session' },
    { table: 'lane_queue = 0', key: 'sessions.lane_queue' },
    { table: 'lane_queue = 1e9', key: 'sessions.lane_queue' },
    { table: 'max_waiting = 0', key: 'sessions.max_waiting' },
    { table: 'lane_timeout = 5', key: 'sessions.lane_timeout' },
    { table: 'affinity = "sticky"', key: 'sessions.affinity' },
    { table: 'affinity_load = 0.5', key: 'sessions.affinity_load' },
    { table: 'per_sesion = 1', key: 'sessions.per_sesion' },
    { table: 'lane_queue = 2000', key: 'sessions.lane_queue' },
    { table: 'lane_timeout = "0"', key: 'sessions.lane_timeout' },
    { table: 'lane_timeout = "60s"', key: 'sessions.lane_timeout' },
    { table: 'lane_queue = 8\nwarn_lane = 8', key: 'sessions.warn_lane' },
  ])('refuses $table, naming $key', ({ table, key }) => {
    const found = refusal(table);
    expect(found.key).toBe(key);
    expect(found.reason.length).toBeGreaterThan(5);
  });

  it('says why a lane timeout is refused, also one inherited from limits.queue_timeout', () => {
    const inherited = (limits: string) => {
      try {
        sessions('', limits);
      } catch (error) {
        return (error as ConfigError).message;
      }
      return expect.unreachable('accepted');
    };
    expect(inherited('[limits]\nqueue_timeout = "0"')).toBe(
      'sessions.lane_timeout: is 0 (from limits.queue_timeout): every request behind another of its session would get 503 at once; set sessions.lane_timeout, or per_session = 0 to turn lanes off',
    );
    expect(inherited('[limits]\nqueue_timeout = "90s"')).toBe(
      'sessions.lane_timeout: 90000 ms (from limits.queue_timeout) is not shorter than limits.request_timeout (60000 ms): a waiting request would get 504 before its lane could answer 503',
    );
    expect(sessions('lane_timeout = "2s"', '[limits]\nqueue_timeout = "0"')?.laneTimeoutMs).toBe(
      2_000,
    );
    // Lanes off: no request waits in one, so a request timeout shorter than the queue's is fine
    // (affinity alone, with short requests).
    expect(sessions('per_session = 0', '[limits]\nrequest_timeout = "1s"')?.perSession).toBe(0);
    // Unset, it fits under a short lane_queue instead of refusing a key nobody wrote.
    expect(sessions('lane_queue = 2')?.warnLane).toBe(1);
    expect(sessions('lane_queue = 100')?.warnLane).toBe(8);
    expect(refusal('warn_lane = 64').reason).toBe(
      'must be below lane_queue (64): a lane never holds more, so the warning could never fire',
    );
  });

  it('says why an empty cookie list is refused', () => {
    expect(refusal('cookies = []').reason).toBe(
      'names no cookie and params names no parameter: nothing could carry a session',
    );
    expect(sessions('cookies = []\nparams = ["_s"]')?.params).toEqual(['_s']);
  });
});

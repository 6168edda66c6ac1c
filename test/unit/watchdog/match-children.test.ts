import { describe, expect, it } from 'vitest';
import type { FpmProcess } from '../../../src/watchdog/fpm-status.js';
import { matchChildren, type StuckRequest } from '../../../src/watchdog/stuck-diagnosis.js';

function child(pid: number, uri: string, script: string | null, ms: number, state = 'Running') {
  return {
    pid,
    state,
    requestUri: uri,
    requestMethod: 'GET',
    script,
    requestDurationMs: ms,
    startedAt: 0,
  } satisfies FpmProcess;
}

function stuck(uri: string, script: string, elapsedMs: number): StuckRequest {
  return { uri, script, elapsedMs, session: null, startedAt: 0 };
}

describe('matchChildren', () => {
  const children = [
    child(10, '/a.php', '/srv/r1/a.php', 61_000),
    child(11, '/a.php', '/srv/r1/a.php', 95_000),
    child(12, '/fpm-status?json&full', null, 0),
    child(13, '/b.php', '/srv/r1/index.php', 70_000),
    child(14, '/a.php', '/srv/r1/a.php', 120_000, 'Idle'),
  ];

  it('pairs each request with the busy child of its URI and script nearest its elapsed time', () => {
    const matched = matchChildren(
      [stuck('/a.php', '/srv/r1/a.php', 60_000), stuck('/a.php', '/srv/r1/a.php', 96_000)],
      children,
      '/fpm-status',
    );
    expect(matched.map((entry) => entry?.pid)).toEqual([10, 11]);
  });

  it('gives a child to one request only, and none to a request no busy child runs', () => {
    const matched = matchChildren(
      [
        stuck('/a.php', '/srv/r1/a.php', 94_000),
        stuck('/a.php', '/srv/r1/a.php', 95_000),
        stuck('/a.php', '/srv/r1/a.php', 96_000),
      ],
      children,
      '/fpm-status',
    );
    // The longest-running request chooses first; the idle child 14 is no one's.
    expect(matched.map((entry) => entry?.pid ?? null)).toEqual([null, 10, 11]);
  });

  it('matches by URI when the script differs, and never the status request itself', () => {
    expect(
      matchChildren([stuck('/b.php', '/srv/r1/b.php', 70_000)], children, '/fpm-status')[0]?.pid,
    ).toBe(13);
    expect(
      matchChildren([stuck('/fpm-status?json&full', '-', 0)], children, '/fpm-status')[0],
    ).toBeNull();
  });
});

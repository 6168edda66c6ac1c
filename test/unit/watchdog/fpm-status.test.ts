import { describe, expect, it } from 'vitest';
import { FpmStatusError, parseFpmStatus } from '../../../src/watchdog/fpm-status.js';

/**
 * Captured from php-fpm 8.2.36 (`pm.status_path?json&full`, pm = static with 3 children): one
 * child blocked in session_start() behind another holding the session, one in usleep(), one
 * answering this very request.
 */
const CAPTURED_STATUS = String.raw`{"pool":"app","process manager":"static","start time":1796198833,"start since":39,"accepted conn":8,"listen queue":0,"max listen queue":0,"listen queue len":0,"idle processes":0,"active processes":3,"total processes":3,"max active processes":3,"max children reached":0,"slow requests":6, "processes":[{"pid":22249,"state":"Running","start time":1796198833,"start since":39,"requests":2,"request duration":7825366,"request method":"GET","request uri":"\/sess.php?sid=Sess1234abcd&ms=10","content length":0,"user":"-","script":"\/tmp\/bcap\/www\/sess.php","last request cpu":0.00,"last request memory":0},{"pid":22250,"state":"Running","start time":1796198833,"start since":39,"requests":4,"request duration":140,"request method":"GET","request uri":"\/fpm-status?json&full","content length":0,"user":"-","script":"-","last request cpu":0.00,"last request memory":0},{"pid":22251,"state":"Running","start time":1796198833,"start since":39,"requests":2,"request duration":8859162,"request method":"GET","request uri":"\/sleep.php?ms=9000","content length":0,"user":"-","script":"\/tmp\/bcap\/www\/sleep.php","last request cpu":0.00,"last request memory":0}]}`;

describe('parseFpmStatus', () => {
  it('reads the pool and every child of a real status page', () => {
    const status = parseFpmStatus(CAPTURED_STATUS);
    expect(status).toMatchObject({
      pool: 'app',
      listenQueue: 0,
      activeProcesses: 3,
      idleProcesses: 0,
    });
    expect(status.processes).toEqual([
      {
        pid: 22249,
        state: 'Running',
        requestUri: '/sess.php?sid=Sess1234abcd&ms=10',
        requestMethod: 'GET',
        script: '/tmp/bcap/www/sess.php',
        requestDurationMs: 7825,
        startedAt: 1796198833_000,
      },
      {
        pid: 22250,
        state: 'Running',
        requestUri: '/fpm-status?json&full',
        requestMethod: 'GET',
        script: null,
        requestDurationMs: 0,
        startedAt: 1796198833_000,
      },
      {
        pid: 22251,
        state: 'Running',
        requestUri: '/sleep.php?ms=9000',
        requestMethod: 'GET',
        script: '/tmp/bcap/www/sleep.php',
        requestDurationMs: 8859,
        startedAt: 1796198833_000,
      },
    ]);
  });

  it("never quotes the page in its error: it may hold other users' URIs", () => {
    const page = '{"request uri": "/account?token=s3cret"';
    expect(() => parseFpmStatus(page)).toThrow(/^status page is not JSON$/);
  });

  it.each([
    ['text that is not JSON', 'pool: app', 'status page is not JSON'],
    ['a page without ?full', '{"pool":"app","listen queue":0}', 'no "processes" list'],
    ['a list', '[]', 'the status page is not a JSON object'],
    [
      'a child without a pid',
      '{"pool":"a","listen queue":0,"active processes":1,"idle processes":0,"processes":[{"state":"Idle"}]}',
      '"pid" is not a count',
    ],
    [
      'a negative listen queue',
      '{"pool":"a","listen queue":-1,"active processes":1,"idle processes":0,"processes":[]}',
      '"listen queue" is not a count',
    ],
  ])('refuses %s with ERR_FPM_STATUS_ANSWER', (_name, text, message) => {
    let caught: unknown;
    try {
      parseFpmStatus(text);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(FpmStatusError);
    expect((caught as FpmStatusError).code).toBe('ERR_FPM_STATUS_ANSWER');
    expect((caught as FpmStatusError).message).toContain(message);
  });
});

import { describe, expect, it } from 'vitest';
import { isConfigError } from '../../../src/config/config-error.js';
import { parseListenFds } from '../../../src/systemd/listen-fds.js';
import { takeSystemdEnvironment } from '../../../src/systemd/systemd-environment.js';

describe('takeSystemdEnvironment', () => {
  it('reads what systemd passed and removes it, so replicas started later do not inherit it', () => {
    const env: NodeJS.ProcessEnv = {
      PATH: '/usr/bin',
      NOTIFY_SOCKET: '/run/systemd/notify',
      WATCHDOG_USEC: '30000000',
      WATCHDOG_PID: '42',
      LISTEN_FDS: '2',
      LISTEN_PID: '42',
      LISTEN_FDNAMES: 'fastcgi:control',
      SWITCHYARD_UPGRADE_FROM: '41',
      SWITCHYARD_UPGRADE_FD: '5',
    };
    const taken = takeSystemdEnvironment(env, 42);
    expect(taken.notifySocket).toBe('/run/systemd/notify');
    expect(taken.watchdogUsec).toBe(30_000_000);
    expect([...taken.listenFds.byName]).toEqual([
      ['fastcgi', 3],
      ['control', 4],
    ]);
    expect(taken.upgrade).toEqual({ fromPid: 41, reportFd: 5 });
    expect(env).toEqual({ PATH: '/usr/bin' });
  });

  it('ignores the watchdog and the sockets when they are meant for another pid', () => {
    const taken = takeSystemdEnvironment(
      { WATCHDOG_USEC: '1000', WATCHDOG_PID: '7', LISTEN_FDS: '1', LISTEN_PID: '7' },
      42,
    );
    expect(taken.watchdogUsec).toBeNull();
    expect(taken.listenFds.byName.size).toBe(0);
  });

  it('takes WATCHDOG_USEC without WATCHDOG_PID, and refuses a value that is not a positive integer', () => {
    expect(takeSystemdEnvironment({ WATCHDOG_USEC: '2000000' }, 1).watchdogUsec).toBe(2_000_000);
    expect(takeSystemdEnvironment({ WATCHDOG_USEC: '0' }, 1).watchdogUsec).toBeNull();
    expect(takeSystemdEnvironment({ WATCHDOG_USEC: 'soon' }, 1).watchdogUsec).toBeNull();
    expect(takeSystemdEnvironment({ NOTIFY_SOCKET: '' }, 1).notifySocket).toBeNull();
  });
});

describe('parseListenFds', () => {
  it('one unnamed socket (systemd-socket-activate without --fdname) is the FastCGI one', () => {
    expect([...parseListenFds('1', undefined, '9', 9).byName]).toEqual([['fastcgi', 3]]);
    expect([...parseListenFds('1', 'unknown', '9', 9).byName]).toEqual([['fastcgi', 3]]);
  });

  it('three named sockets, in any order', () => {
    expect([...parseListenFds('3', 'control:http:fastcgi', '9', 9).byName]).toEqual([
      ['control', 3],
      ['http', 4],
      ['fastcgi', 5],
    ]);
  });

  it('refuses, as a config error naming the variable, a name it does not take, a name twice, two unnamed, or names that do not count', () => {
    const refusal = (count: string, names: string | undefined) => {
      try {
        parseListenFds(count, names, '9', 9);
      } catch (error) {
        expect(isConfigError(error)).toBe(true);
        return (error as Error).message;
      }
      return null;
    };
    expect(refusal('1', 'admin')).toMatch(
      /^LISTEN_FDNAMES: socket 1 of LISTEN_FDS is named "admin"/,
    );
    expect(refusal('2', 'fastcgi:fastcgi')).toMatch(/two sockets are named "fastcgi"/);
    expect(refusal('2', undefined)).toMatch(/named "unknown"/);
    expect(refusal('2', 'fastcgi')).toMatch(/names 1 sockets but LISTEN_FDS passes 2/);
    expect(refusal('x', 'fastcgi')).toMatch(/^LISTEN_FDS: "x" is not a number/);
  });
});

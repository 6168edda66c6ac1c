import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/config-types.js';
import { parseConfig } from '../../src/config/load-config.js';
import { ConfigReloader } from '../../src/config-reloader.js';
import { OperationLock } from '../../src/control/operation-lock.js';
import { MINIMAL_CONFIG } from '../support/minimal-config.js';

/** MINIMAL_CONFIG with managed replicas: kind = "command" needs no php-fpm; argv[0] is this node. */
function commandConfig(extra = ''): Config {
  const replicas = `kind = "command"\n${extra}\n[replicas.command]\nargv = [${JSON.stringify(process.execPath)}]`;
  const text = MINIMAL_CONFIG.replace(/kind = "external"\naddresses = .*/, replicas);
  return parseConfig(text, '/etc/switchyard');
}

function reloaderOver(config: Config) {
  const lock = new OperationLock();
  const applied: Config[] = [];
  const reloader = new ConfigReloader({
    config,
    lock,
    apply: (next) => applied.push(next),
    logger: pino({ level: 'silent' }),
  });
  return { lock, applied, reloader };
}

describe('ConfigReloader', () => {
  it('applies at once when nothing runs, naming the tables that wait for a daemon restart', () => {
    const { applied, reloader } = reloaderOver(commandConfig());
    const next = commandConfig('count = 3');
    expect(reloader.reload(next)).toBe('config applied: replacing replicas one at a time');
    expect(applied).toEqual([next]);
    const moved = { ...commandConfig('count = 3'), limits: { ...next.limits, queue: 7 } };
    expect(reloader.reload(moved)).toBe(
      'config applied: replacing replicas one at a time; limits take effect when the daemon restarts (or after `switchyard upgrade`)',
    );
  });

  it('refuses a change of replicas.kind and anything for external replicas', () => {
    const { applied, reloader } = reloaderOver(commandConfig());
    expect(reloader.reload(parseConfig(MINIMAL_CONFIG, '/etc/switchyard'))).toBe(
      'replicas.kind changed from "command" to "external": restart the daemon to apply it',
    );
    const external = reloaderOver(parseConfig(MINIMAL_CONFIG, '/etc/switchyard'));
    expect(external.reloader.reload(parseConfig(MINIMAL_CONFIG, '/etc/switchyard'))).toBe(
      'replicas.kind is "external": nothing to restart; other changes need a daemon restart',
    );
    expect(applied).toEqual([]);
  });

  it('while an operation holds the lock, applies only the latest reload once it is free', async () => {
    const { lock, applied, reloader } = reloaderOver(commandConfig());
    const deploy = lock.claim('a deploy of x');
    const first = commandConfig('count = 3');
    const latest = commandConfig('count = 4');
    expect(reloader.reload(first)).toBe(
      'config accepted, applied when the running deploy or restart ends',
    );
    reloader.reload(latest);
    await Promise.resolve();
    expect(applied).toEqual([]);
    deploy.release();
    await lock.untilFree();
    await new Promise((resolve) => setImmediate(resolve));
    expect(applied).toEqual([latest]);
  });

  it('a reload applied at once is not overtaken by an older deferred one', async () => {
    const { lock, applied, reloader } = reloaderOver(commandConfig());
    const restart = lock.claim('a restart');
    reloader.reload(commandConfig('count = 3'));
    restart.release();
    const latest = commandConfig('count = 4');
    // Before the deferred one's wait has woken: the lock is free, so this one applies now.
    reloader.reload(latest);
    await new Promise((resolve) => setImmediate(resolve));
    expect(applied).toEqual([latest]);
  });
});

import { describe, expect, it } from 'vitest';
import { BusyError, OperationLock } from '../../../src/control/operation-lock.js';

function refusal(run: () => unknown): BusyError {
  try {
    run();
  } catch (error) {
    if (error instanceof BusyError) return error;
    throw error;
  }
  throw new Error('not refused');
}

describe('OperationLock', () => {
  it('refuses a second claim with ERR_BUSY naming what runs, and takes one again once released', () => {
    const lock = new OperationLock();
    const deploy = lock.claim('a deploy of /srv/app/releases/2');
    expect(lock.busy).toBe(true);
    const busy = refusal(() => lock.claim('a restart'));
    expect(busy.code).toBe('ERR_BUSY');
    expect(busy.message).toBe(
      'a deploy of /srv/app/releases/2 is running; try again when it has finished',
    );
    deploy.release();
    deploy.release();
    expect(lock.busy).toBe(false);
    lock.claim('a restart').release();
  });

  it('a hold is never refused, and a refusal names the first holder', () => {
    const lock = new OperationLock();
    const restart = lock.claim('a restart');
    const followed = lock.hold('a release switch');
    expect(refusal(() => lock.claim('a rollback')).message).toBe(
      'a restart is running; try again when it has finished',
    );
    restart.release();
    expect(lock.busy).toBe(true);
    expect(refusal(() => lock.claim('a rollback')).message).toBe(
      'a release switch is running; try again when it has finished',
    );
    followed.release();
    expect(lock.busy).toBe(false);
  });

  it('wakes a waiter when the last holder releases, after the releasing code has run', async () => {
    const lock = new OperationLock();
    await lock.untilFree();
    const first = lock.claim('a deploy of x');
    const second = lock.hold('a release switch');
    const steps: string[] = [];
    const waited = lock.untilFree().then(() => steps.push('woken'));
    first.release();
    await Promise.resolve();
    expect(steps).toEqual([]);
    second.release();
    steps.push('released');
    await waited;
    expect(steps).toEqual(['released', 'woken']);
  });

  it('names its first holder, and tells listeners of each take and release (not of a second release)', () => {
    const lock = new OperationLock();
    const seen: Array<string | null> = [];
    const off = lock.onChange(() => seen.push(lock.holder));
    expect(lock.holder).toBeNull();
    const upgrade = lock.claim('an upgrade');
    const flip = lock.hold('a release switch');
    upgrade.release();
    upgrade.release();
    flip.release();
    off();
    lock.claim('a restart');
    expect(seen).toEqual(['an upgrade', 'an upgrade', 'a release switch', null]);
  });
});

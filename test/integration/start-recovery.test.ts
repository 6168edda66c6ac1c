import {
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEMO_APP_REPLICAS,
  demoRelease,
  type ManagedDaemon,
  startManagedDaemon,
} from '../support/managed-daemon.js';
import { type SwitchyardProcess, startSwitchyard } from '../support/switchyard-process.js';
import { waitFor } from '../support/wait-for.js';

// A crash while a deploy tool's flip to a broken release is being followed leaves the symlink
// on the broken release (so does a flip made while the daemon was down): the next daemon must
// not pin every replica to it and take the site down; it serves the last release that worked
// and puts the symlink back.

let daemon: ManagedDaemon | null = null;
const restarted: SwitchyardProcess[] = [];

afterEach(async () => {
  for (const process of restarted.splice(0)) {
    if (process.child.exitCode === null && process.child.signalCode === null) {
      process.child.kill('SIGTERM');
      await process.exited;
    }
  }
  await daemon?.cleanup();
  daemon = null;
});

/** A new daemon on the same config, as systemd starts one after a crash. */
async function restartDaemon(current: ManagedDaemon): Promise<SwitchyardProcess> {
  const next = await startSwitchyard(
    current.dir,
    readFileSync(current.switchyard.configPath, 'utf8'),
  );
  restarted.push(next);
  return next;
}

async function servedRelease(current: ManagedDaemon): Promise<string> {
  const response = await fetch(`${current.httpUrl}/release.json`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { release: string }).release;
}

describe('a daemon that starts on a broken symlink', () => {
  it('serves the last good release, puts the symlink back and records why; also when the symlink leads nowhere', {
    timeout: 90_000,
  }, async () => {
    daemon = await startManagedDaemon({
      label: 'recovery',
      firstRelease: 'd0',
      replicas: DEMO_APP_REPLICAS(2, 2),
      releaseSource: demoRelease('v1'),
    });
    const current = daemon;
    const good = current.addRelease('d1', demoRelease('v2'));
    const deployed = await current.cli(['deploy', good]);
    expect(deployed.code, deployed.stderr).toBe(0);
    const broken = current.addRelease('d2', demoRelease('v1'));
    writeFileSync(join(broken, 'release.json'), '{ not json');

    // The crash: the daemon dies after the symlink moved to the broken release.
    current.switchyard.child.kill('SIGKILL');
    await current.switchyard.exited;
    unlinkSync(current.symlink);
    symlinkSync(broken, current.symlink);

    const second = await restartDaemon(current);
    expect(await servedRelease(current)).toBe('v2');
    expect(realpathSync(current.symlink)).toBe(good);
    expect(second.stdout()).toContain(`did not start: starting on the last good release ${good}`);
    const status = await current.status();
    expect(status.servingRelease).toBe(good);
    expect(status.lastDeploy).toMatchObject({
      trigger: 'recovery',
      release: good,
      previous: broken,
      ok: true,
    });
    expect(status.lastDeploy?.message).toContain('cannot load release');
    const human = await current.cli(['status']);
    expect(human.stdout).toMatch(/^last {5}recovery to d1 {2}ok/m);
    // Rollback still goes back past the recovery to what served before it.
    expect(status.rollbackTarget).toBe(current.release);

    // A symlink that leads nowhere (its release removed) is recovered the same way.
    second.child.kill('SIGKILL');
    await second.exited;
    unlinkSync(current.symlink);
    symlinkSync(join(current.dir, 'releases', 'removed'), current.symlink);
    await restartDaemon(current);
    expect(await servedRelease(current)).toBe('v2');
    expect(realpathSync(current.symlink)).toBe(good);
  });
});

describe('a serving release removed from under the daemon', () => {
  it('goes back to the last good release; with none, restart says why instead of failing', {
    timeout: 90_000,
  }, async () => {
    daemon = await startManagedDaemon({
      label: 'removed',
      firstRelease: 'd0',
      replicas: DEMO_APP_REPLICAS(2, 2),
      releaseSource: demoRelease('v1'),
    });
    const current = daemon;
    // Nothing to go back to yet: the first release removed.
    const first = current.release;
    const keep = current.addRelease('keep', first);
    rmSync(first, { recursive: true });
    await waitFor(() => current.switchyard.stdout().includes('the history knows no other'), {
      timeoutMs: 10_000,
      what: 'the daemon to notice the removed release',
    });
    const refused = await current.cli(['restart']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`the serving release ${first} no longer exists`);
    // A deploy is the way out, and then there is a good release to go back to.
    const deployed = await current.cli(['deploy', keep]);
    expect(deployed.code, deployed.stderr).toBe(0);
    const next = current.addRelease('d1', demoRelease('v2'));
    expect((await current.cli(['deploy', next])).code).toBe(0);
    expect(await servedRelease(current)).toBe('v2');

    rmSync(next, { recursive: true });
    await waitFor(async () => (await current.status()).lastDeploy?.trigger === 'recovery', {
      timeoutMs: 20_000,
      what: 'the daemon to go back to the last good release',
    });
    const status = await current.waitReady('every replica on the last good release');
    expect(status.servingRelease).toBe(keep);
    expect(status.lastDeploy).toMatchObject({ trigger: 'recovery', release: keep, ok: true });
    expect(realpathSync(current.symlink)).toBe(keep);
    expect(await servedRelease(current)).toBe('v1');
    expect(current.switchyard.stdout()).toContain(
      `the serving release ${next} was removed: going back to the last good release ${keep}`,
    );
  });
});

describe('a deploy tool that flips the symlink and removes the old release at once', () => {
  it('is followed, not undone by the recovery from a removed release', {
    timeout: 60_000,
  }, async () => {
    daemon = await startManagedDaemon({
      label: 'flip-rm',
      firstRelease: 'd0',
      replicas: DEMO_APP_REPLICAS(2, 2),
      releaseSource: demoRelease('v1'),
    });
    const current = daemon;
    const next = current.addRelease('d1', demoRelease('v2'));
    // What `ln -sfn releases/d1 current && rm -rf releases/d0` does, in one go.
    const temporary = join(current.dir, 'current.tmp');
    symlinkSync(next, temporary);
    renameSync(temporary, current.symlink);
    rmSync(current.release, { recursive: true });
    const status = await waitFor(
      async () => {
        const now = await current.status();
        // The switch is recorded when it has finished, after the replicas are ready.
        return now.lastDeploy?.release === next && now.replicas.every((r) => r.state === 'ready')
          ? now
          : null;
      },
      { timeoutMs: 20_000, what: 'the daemon to follow the flip to d1' },
    );
    expect(status.lastDeploy).toMatchObject({ trigger: 'symlink', release: next, ok: true });
    expect(realpathSync(current.symlink)).toBe(next);
    expect(await servedRelease(current)).toBe('v2');
  });
});

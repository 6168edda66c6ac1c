import { spawnSync } from 'node:child_process';
import { realpathSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEMO_APP_REPLICAS,
  demoRelease,
  type ManagedDaemon,
  startManagedDaemon,
} from '../support/managed-daemon.js';
import { startCli } from '../support/switchyard-process.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { waitFor } from '../support/wait-for.js';

// `deploy` and `rollback` move the release symlink in the tick of the balancer's toggle: a
// web server serving static files from it switches them with the PHP, and a deploy that
// fails before its cut-over never touches it.

const chattr = requireSystemTool(SystemTool.chattr);
let daemon: ManagedDaemon | null = null;
const immutable: string[] = [];

afterEach(async () => {
  for (const dir of immutable.splice(0)) spawnSync('chattr', ['-i', dir]);
  await daemon?.cleanup();
  daemon = null;
});

/** Two replicas whose warm-up takes 1.5 s: the new release is up but not serving for a while. */
async function start(label: string): Promise<ManagedDaemon> {
  daemon = await startManagedDaemon({
    label,
    firstRelease: 'd0',
    replicas: DEMO_APP_REPLICAS(2, 2),
    releaseSource: demoRelease('v1'),
    extra: ['[deploy]', 'warmup = ["/sleep?ms=1500"]', 'timeout = "60s"'],
  });
  return daemon;
}

function linkTarget(current: ManagedDaemon): string | null {
  try {
    return realpathSync(current.symlink);
  } catch {
    return null;
  }
}

/** `switchyard <args>` started, not awaited: its output can be watched as it streams. */
function cli(current: ManagedDaemon, args: readonly string[]) {
  return startCli([...args, '-c', current.switchyard.configPath]);
}

describe('the release symlink moves at the cut-over', () => {
  it('deploy and rollback: old while the new replicas warm up, new once the cut-over is printed', {
    timeout: 90_000,
  }, async () => {
    const current = await start('cutover-order');
    const d0 = current.release;
    const d1 = current.addRelease('d1', demoRelease('v2'));

    const deploy = cli(current, ['deploy', d1]);
    let ended = false;
    const exited = deploy.exited.finally(() => {
      ended = true;
    });
    // The symlink is read before the status: a symlink already on d1 must mean the balancer
    // already serves d1 (the old order, flip first, fails this for the whole warm-up).
    const samples: Array<{ link: string | null; serving: string | null; warming: boolean }> = [];
    while (!ended) {
      const link = linkTarget(current);
      const status = await current.status();
      samples.push({
        link,
        serving: status.servingRelease,
        warming: status.replicas.some((replica) => replica.release === d1),
      });
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(await exited, deploy.stderr()).toBe(0);
    expect(samples.filter((sample) => sample.link === d1 && sample.serving !== d1)).toEqual([]);
    // It stayed on d0 while a replica of d1 was starting and warming up.
    expect(samples.some((sample) => sample.warming && sample.link === d0)).toBe(true);
    expect(linkTarget(current)).toBe(d1);

    const rollback = cli(current, ['rollback']);
    // Printed, so toggled: the symlink moved before the line was sent.
    await waitFor(() => rollback.stdout().includes('cut-over'), {
      timeoutMs: 60_000,
      what: 'the rollback to print its cut-over',
    });
    expect(linkTarget(current)).toBe(d0);
    expect(await rollback.exited, rollback.stderr()).toBe(0);
  });

  it('a deploy that fails before the cut-over never touches the symlink, and says so', {
    timeout: 60_000,
  }, async () => {
    const current = await start('cutover-broken');
    const d0 = current.release;
    const broken = current.addRelease('broken', demoRelease('v2'));
    writeFileSync(join(broken, 'release.json'), '{ not json');

    const deploy = cli(current, ['deploy', broken]);
    let ended = false;
    const exited = deploy.exited.finally(() => {
      ended = true;
    });
    const seen = new Set<string | null>();
    while (!ended) {
      seen.add(linkTarget(current));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(await exited).toBe(1);
    expect([...seen]).toEqual([d0]);
    expect(deploy.stderr()).toContain('cannot load release');
    expect(deploy.stderr()).toContain(`the symlink was left on ${d0}, the serving release`);
    expect((await current.status()).lastDeploy?.ok).toBe(false);
  });

  it.skipIf(chattr === undefined)(
    'a symlink that cannot be moved: refused up front, and loud when it fails at the cut-over',
    { timeout: 90_000 },
    async () => {
      const current = await start('cutover-eperm');
      const d0 = current.release;
      const d1 = current.addRelease('d1', demoRelease('v2'));
      const dir = dirname(current.symlink);
      const pids = await current.replicaPids();

      // Not writable when the deploy is asked: refused before any replica moves.
      immutable.push(dir);
      expect(spawnSync(chattr as string, ['+i', dir]).status).toBe(0);
      const refused = cli(current, ['deploy', d1]);
      expect(await refused.exited).toBe(1);
      expect(refused.stderr()).toContain('is not writable');
      expect(await current.replicaPids()).toEqual(pids);
      spawnSync(chattr as string, ['-i', dir]);

      // Made unwritable while the new replicas warm up: the flip at the cut-over fails.
      const deploy = cli(current, ['deploy', d1]);
      await waitFor(() => deploy.stdout().includes('d1'), {
        timeoutMs: 30_000,
        what: 'a replica to start on d1',
      });
      expect(spawnSync(chattr as string, ['+i', dir]).status).toBe(0);
      expect(await deploy.exited).toBe(1);
      expect(deploy.stderr()).toContain('could not be moved to it at the cut-over');
      expect(deploy.stderr()).toContain(`a restarted daemon would start on that`);
      const status = await current.status();
      expect(status.servingRelease).toBe(d1);
      expect(linkTarget(current)).toBe(d0);
      // The daemon does not follow the symlink back to d0 on its own.
      expect(status.replicas.every((replica) => replica.release === d1)).toBe(true);

      // Writable again: `deploy --force` of the serving release puts the symlink on it.
      spawnSync(chattr as string, ['-i', dir]);
      const fixed = cli(current, ['deploy', '--force', d1]);
      expect(await fixed.exited, fixed.stderr()).toBe(0);
      expect(linkTarget(current)).toBe(d1);
    },
  );
});

describe('a daemon stopped during a switch, before its cut-over', () => {
  it('leaves a deploy’s symlink on the serving release and puts a followed flip’s back', {
    timeout: 90_000,
  }, async () => {
    for (const how of ['deploy', 'flip'] as const) {
      const current = await start(`cutover-stop-${how}`);
      const d0 = current.release;
      const d1 = current.addRelease('d1', demoRelease('v2'));
      if (how === 'deploy') cli(current, ['deploy', d1]);
      else spawnSync('ln', ['-sfn', d1, current.symlink]);
      // A replica of d1 is warming up (1.5 s): the switch has not reached its cut-over.
      await waitFor(
        async () =>
          (await current.status()).replicas.some(
            (replica) => replica.release === d1 && replica.state === 'starting',
          ),
        { timeoutMs: 20_000, what: `a replica to start on d1 (${how})` },
      );
      expect((await current.status()).servingRelease).toBe(d0);
      current.switchyard.child.kill('SIGTERM');
      await current.switchyard.exited;
      expect(linkTarget(current), how).toBe(d0);
      if (how === 'flip') {
        expect(current.switchyard.stdout()).toContain(
          `stopping during a switch before its cut-over: the symlink points at ${d0} again`,
        );
      }
      await current.cleanup();
      daemon = null;
    }
  });
});

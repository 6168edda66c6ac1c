import { execFile } from 'node:child_process';
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { backwardSteps, failures, startDeployLoad } from '../support/deploy-load.js';
import {
  DEMO_APP_REPLICAS,
  demoRelease,
  type ManagedDaemon,
  startManagedDaemon,
} from '../support/managed-daemon.js';
import { stopAfterEach } from '../support/stop-after-each.js';
import { waitFor } from '../support/wait-for.js';

const HEADER = 'X-Served-Release';
const execFileAsync = promisify(execFile);
let daemon: ManagedDaemon | null = null;

const keep = stopAfterEach();

async function start(label: string, surge: boolean): Promise<ManagedDaemon> {
  daemon = keep(
    await startManagedDaemon({
      label,
      firstRelease: 'd0',
      replicas: DEMO_APP_REPLICAS(2, 3, surge),
      releaseSource: demoRelease('v1'),
      extra: [
        '[health]',
        'interval = "500ms"',
        'timeout = "2s"',
        '[response]',
        `release_header = "${HEADER}"`,
        '[deploy]',
        'warmup = ["/release.json"]',
      ],
    }),
  );
  return daemon;
}

function load(url: string) {
  return startDeployLoad({
    url,
    releaseHeader: HEADER,
    concurrency: 6,
    pathFor: (i) => (i % 6 === 0 ? '/sleep?ms=700' : i % 6 === 3 ? '/echo-body' : '/release.json'),
    bodyFor: (i) => (i % 6 === 3 ? Buffer.alloc(64 * 1024, 1) : undefined),
  });
}

describe('deploys with command replicas (the demo app)', () => {
  it('alternates releases under load with no failure and never old after new', {
    timeout: 90_000,
  }, async () => {
    const current = await start('deploy-demo', false);
    const running = load(current.httpUrl);
    for (let k = 1; k <= 4; k += 1) {
      const dir = current.addRelease(`d${k}`, demoRelease(k % 2 === 1 ? 'v2' : 'v1'));
      const result = await current.cli(['deploy', dir]);
      expect(result.code, result.stderr + result.stdout).toBe(0);
      expect(result.stdout).toContain('cut-over');
    }
    const batches = await running.stop();
    expect(failures(batches)).toEqual([]);
    expect(backwardSteps(batches, HEADER, (name) => Number(name.slice(1)))).toEqual([]);
    const status = await current.status();
    expect(status.replicas.every((replica) => replica.release === status.servingRelease)).toBe(
      true,
    );
    expect(status.servingRelease).toBe(realpathSync(`${current.dir}/releases/d4`));
  });

  it('with surge = true keeps count replicas serving through the switch', async () => {
    const current = await start('deploy-surge', true);
    const dir = current.addRelease('d1', demoRelease('v2'));
    let done = false;
    const deploy = current.cli(['deploy', dir]).finally(() => {
      done = true;
    });
    let fewest = Number.POSITIVE_INFINITY;
    while (!done) {
      const status = await current.status();
      const serving = status.replicas.filter(
        (replica) => replica.state === 'ready' && replica.release === status.servingRelease,
      ).length;
      fewest = Math.min(fewest, serving);
    }
    const result = await deploy;
    expect(result.code, result.stderr).toBe(0);
    expect(fewest).toBeGreaterThanOrEqual(2);
    const status = await current.status();
    expect(status.replicas.map((replica) => replica.name)).toEqual(['replica-1', 'replica-2']);
  });

  it('defers a SIGHUP that arrives during a deploy until the deploy has finished', async () => {
    const current = await start('deploy-hup', false);
    const configPath = current.switchyard.configPath;
    const dir = current.addRelease('d1', demoRelease('v2'));
    const deploy = current.cli(['deploy', dir]);
    await waitFor(() => current.switchyard.stdout().includes('switching release'), {
      timeoutMs: 10_000,
      what: 'the deploy to start',
    });
    writeFileSync(
      configPath,
      readFileSync(configPath, 'utf8').replace('capacity = 3', 'capacity = 2'),
    );
    current.switchyard.child.kill('SIGHUP');
    const result = await deploy;
    expect(result.code, result.stderr).toBe(0);
    expect(current.switchyard.stdout()).toContain(
      'applied when the running deploy or restart ends',
    );
    // capacity 2 → 3 processes per replica, on the deployed release.
    const status = await waitFor(
      async () => {
        const now = await current.status();
        return now.replicas.every(
          (replica) => replica.state === 'ready' && replica.pids.length === 3,
        )
          ? now
          : null;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'the deferred reload to replace the replicas' },
    );
    expect(status.replicas.every((replica) => replica.release === realpathSync(dir))).toBe(true);
  });

  it('deploy --force of a current release that no longer boots fails fast with the app output', async () => {
    const current = await start('deploy-force', false);
    const before = await current.status();
    writeFileSync(`${current.release}/release.json`, '{ not json');
    const started = Date.now();
    const result = await current.cli(['deploy', '--force', current.release]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('cannot load release');
    // Well before the deploy timeout (5 min): the first failed start ends it.
    expect(Date.now() - started).toBeLessThan(30_000);
    const after = await current.status();
    const untouched = after.replicas.filter(
      (replica) =>
        replica.state === 'ready' && before.replicas.some((old) => old.pid === replica.pid),
    );
    expect(untouched.length).toBeGreaterThanOrEqual(1);
    const page = await fetch(`${current.httpUrl}/release.json`);
    expect(page.status).toBe(200);
  });

  it('keeps to release.root: a deploy outside it is refused, a flip outside it is not followed', async () => {
    daemon = keep(
      await startManagedDaemon({
        label: 'deploy-root',
        firstRelease: 'd0',
        replicas: DEMO_APP_REPLICAS(2, 2),
        releaseSource: demoRelease('v1'),
        releaseExtra: ['root = "<dir>/releases"'],
      }),
    );
    const current = daemon;
    const outside = current.addRelease('../outside', demoRelease('v2'));
    const before = await current.status();

    const refused = await current.cli(['deploy', outside]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('deploy refused');
    expect(refused.stderr).toContain('release.root');
    expect(realpathSync(current.symlink)).toBe(current.release);

    await execFileAsync('ln', ['-sfn', outside, current.symlink]);
    await waitFor(() => current.switchyard.stdout().includes('not following it'), {
      timeoutMs: 10_000,
      what: 'the daemon to refuse to follow the flip',
    });
    const after = await current.status();
    expect(after.servingRelease).toBe(before.servingRelease);
    expect(after.replicas.map((replica) => replica.pids)).toEqual(
      before.replicas.map((replica) => replica.pids),
    );
  });
});

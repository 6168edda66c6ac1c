import { cpSync, mkdirSync, realpathSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer/balancer.js';
import { ControlClient } from '../../src/control/control-client.js';
import { Deployer } from '../../src/release/deployer.js';
import { flipSymlink } from '../../src/release/flip-symlink.js';
import { ReleaseHistory } from '../../src/release/release-history.js';
import { untilConverged } from '../../src/supervisor/convergence.js';
import { DEFAULT_STUCK_SETTINGS } from '../../src/supervisor/stuck-watch.js';
import { Supervisor } from '../../src/supervisor/supervisor.js';
import { CommandLauncher } from '../../src/supervisor/workers/command-launcher.js';
import { demoRelease, type ManagedDaemon, startManagedDaemon } from '../support/managed-daemon.js';
import { PHP_R1, PHP_R2 } from '../support/php-fpm-daemon.js';
import { readHistory } from '../support/release-history-file.js';
import { repoRoot } from '../support/repo-root.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { makeTempDir } from '../support/temp-dir.js';

// The daemon moves the symlink itself at a switch's cut-over; its symlink watcher reports that
// flip some 100 ms later (up to 2 s where inotify misses it). A deploy asked in between still
// has the symlink on the previous release until its own cut-over: that report is the daemon's
// own flip, not a deploy tool's, and must not turn the new deploy back to the previous release.

const phpFpm = requireSystemTool(SystemTool.phpFpm);
const logger = pino({ level: 'silent' });
const cleanups: Array<() => Promise<void> | void> = [];
let daemon: ManagedDaemon | null = null;

afterEach(async () => {
  for (const step of cleanups.splice(0).reverse()) await step();
  await daemon?.cleanup();
  daemon = null;
});

/** The deployer over a real supervisor of demo-app replicas, as the daemon puts them together. */
async function startDeployer(label: string) {
  const temp = makeTempDir(label);
  cleanups.push(temp.remove);
  const releases = ['d0', 'd1', 'd2'].map((name, index) => {
    const dir = join(temp.path, 'releases', name);
    cpSync(demoRelease(index % 2 === 0 ? 'v1' : 'v2'), dir, { recursive: true });
    return realpathSync(dir);
  }) as [string, string, string];
  const symlink = join(temp.path, 'current');
  symlinkSync(releases[0], symlink);
  const balancer = new Balancer({
    queue: 10,
    queueTimeoutMs: 5_000,
    idleTimeoutMs: 30_000,
    connectTimeoutMs: 2_000,
    probeIntervalMs: 1_000,
    logger,
  });
  const argv = [process.execPath, join(repoRoot, 'fixtures/demo-app/app.mjs')];
  const supervisor = new Supervisor({
    settings: {
      count: 2,
      capacity: 2,
      surge: false,
      surgeMarginBytes: 0,
      health: {
        path: '/fpm-ping',
        expect: 'pong',
        intervalMs: 500,
        timeoutMs: 2_000,
        failures: 3,
        startTimeoutMs: 20_000,
      },
      drainTimeoutMs: 5_000,
      warmup: [],
      warmupTimeoutMs: 5_000,
      releaseHeader: null,
      watchdog: DEFAULT_STUCK_SETTINGS,
      launcher: new CommandLauncher({
        replicas: {
          kind: 'command',
          count: 2,
          capacity: 2,
          idleTimeoutMs: 30_000,
          connectTimeoutMs: 2_000,
          surge: false,
          surgeMarginBytes: 0,
          command: { argv, env: {} },
        },
        runtimeDir: join(temp.path, 'run'),
        drainTimeoutMs: 5_000,
        logger,
      }),
    },
    balancer,
    symlink,
    release: releases[0],
    logger,
  });
  cleanups.push(() => supervisor.shutdown());
  supervisor.start();
  expect(await untilConverged(supervisor, 30_000)).toEqual({ ok: true });
  mkdirSync(join(temp.path, 'state'));
  const deployer = new Deployer({
    supervisor,
    history: ReleaseHistory.load(join(temp.path, 'state'), logger),
    symlink,
    root: null,
    timeoutMs: 60_000,
    logger,
  });
  return { deployer, supervisor, symlink, releases };
}

describe("the symlink watcher's report of the daemon's own flip", () => {
  it('is no flip: a deploy running when it arrives keeps its target', {
    timeout: 90_000,
  }, async () => {
    const { deployer, supervisor, symlink, releases } = await startDeployer('own-flip');
    const [, d1, d2] = releases;
    expect(await deployer.deploy(d1, false, () => {})).toMatchObject({ ok: true });
    expect(realpathSync(symlink)).toBe(d1);

    const second = deployer.deploy(d2, false, () => {});
    // What the watcher says about the flip to d1 once its debounce has passed: the deploy to d2
    // is under way by then, before its cut-over, and the symlink still names d1.
    deployer.followSymlink(realpathSync(symlink));
    expect(await second).toMatchObject({ ok: true, message: `switched to ${d2}` });
    expect(supervisor.servingRelease).toBe(d2);
    expect(realpathSync(symlink)).toBe(d2);
  });

  it('a flip by someone else during a deploy is still followed', {
    timeout: 90_000,
  }, async () => {
    const { deployer, supervisor, symlink, releases } = await startDeployer('own-flip-other');
    const [d0, d1, d2] = releases;
    expect(await deployer.deploy(d1, false, () => {})).toMatchObject({ ok: true });
    // A deploy tool puts the symlink back on d0 (the watcher reports it), then, while a deploy
    // of d2 runs, flips it to d1 again: that one is a flip, not the daemon's own.
    flipSymlink(symlink, d0);
    deployer.followSymlink(d0);
    await expect.poll(() => deployer.busy, { timeout: 30_000 }).toBe(false);
    expect(supervisor.servingRelease).toBe(d0);
    const second = deployer.deploy(d2, false, () => {});
    flipSymlink(symlink, d1);
    deployer.followSymlink(d1);
    expect(await second).toMatchObject({ ok: true, message: `switched to ${d1}` });
    expect(realpathSync(symlink)).toBe(d1);
  });
});

describe.skipIf(phpFpm === undefined)('deploys one after another on the control socket', () => {
  it('each ends on its own release (php-fpm, no surge, no warm-up)', {
    timeout: 90_000,
  }, async () => {
    // A deploy ends some 80 ms after its cut-over here, within the watcher's 100 ms debounce:
    // the next one often starts before the watcher has reported the previous flip.
    daemon = await startManagedDaemon({
      label: 'own-flip-daemon',
      firstRelease: 'd0',
      replicas: [
        '[replicas]',
        'kind = "php-fpm"',
        'count = 2',
        'capacity = 4',
        'surge = false',
        '[replicas.php_fpm]',
        `binary = "${phpFpm}"`,
      ],
      releaseSource: PHP_R1,
      extra: ['[deploy]', 'timeout = "60s"'],
    });
    const current = daemon;
    const releases = [1, 2, 3, 4, 5, 6].map((k) =>
      current.addRelease(`d${k}`, k % 2 === 1 ? PHP_R2 : PHP_R1),
    );
    const client = new ControlClient(current.controlSocket);
    for (const release of releases) {
      // Asked as soon as the previous deploy's answer arrives (a script on the control socket).
      const done = await client.deploy({ target: release }, () => {});
      expect(done, release).toMatchObject({ ok: true, message: `switched to ${release}` });
    }
    const last = releases.at(-1) as string;
    expect((await current.status()).servingRelease).toBe(last);
    expect(realpathSync(current.symlink)).toBe(last);
    expect(readHistory(current).map((record) => record.release)).toEqual(releases);
    expect(current.switchyard.stdout()).not.toContain('the symlink moved again during a switch');
  });
});

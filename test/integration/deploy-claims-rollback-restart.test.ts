import { readFileSync, realpathSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { failures, startDeployLoad } from '../support/deploy-load.js';
import type { ManagedDaemon } from '../support/managed-daemon.js';
import {
  answeredBy,
  PHP_R1,
  PHP_R2,
  RELEASE_HEADER,
  startPhpFpmDaemon,
} from '../support/php-fpm-daemon.js';
import { readHistory } from '../support/release-history-file.js';
import { type SwitchyardProcess, startSwitchyard } from '../support/switchyard-process.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';

const phpFpm = requireSystemTool(SystemTool.phpFpm);

let daemon: ManagedDaemon | null = null;
let restarted: SwitchyardProcess | null = null;

afterEach(async () => {
  if (restarted !== null && restarted.child.exitCode === null) {
    restarted.child.kill('SIGTERM');
    await restarted.exited;
  }
  restarted = null;
  // Its replicas were seen through `status`, so the cleanup also stops any left behind.
  await daemon?.cleanup();
  daemon = null;
});

describe.skipIf(phpFpm === undefined)('`switchyard rollback` after a daemon restart', () => {
  it('goes back to the release served before the last deploy: the history survives the restart', {
    timeout: 60_000,
  }, async () => {
    daemon = await startPhpFpmDaemon({
      label: 'claims-rollback',
      phpFpm: phpFpm as string,
      warmup: ['/index.php'],
    });
    const current = daemon;
    const d1 = current.addRelease('d1', PHP_R2);
    const d2 = current.addRelease('d2', PHP_R1);
    for (const dir of [d1, d2]) {
      const deploy = await current.cli(['deploy', dir]);
      expect(deploy.code, deploy.stderr).toBe(0);
    }

    // A clean stop (systemctl stop), then a new daemon process on the same config and state.
    current.switchyard.child.kill('SIGTERM');
    expect(await current.switchyard.exited).toBe(0);
    restarted = await startSwitchyard(
      current.dir,
      readFileSync(current.switchyard.configPath, 'utf8'),
    );
    const started = await current.waitReady('the restarted daemon to be ready');
    expect(started.pid).toBe(restarted.pid);
    expect(started.servingRelease).toBe(d2);
    expect(started.rollbackTarget).toBe(d1);

    const load = startDeployLoad({
      url: current.httpUrl,
      releaseHeader: RELEASE_HEADER,
      concurrency: 4,
      pathFor: (i) => (i % 8 === 0 ? '/sleep.php?ms=300' : '/index.php'),
    });
    const rollback = await current.cli(['rollback']);
    const batches = await load.stop();
    expect(rollback.code, rollback.stderr).toBe(0);
    expect(rollback.stdout).toContain(`rolled back to ${d1}`);
    expect(realpathSync(current.symlink)).toBe(d1);
    const status = await current.waitReady('every replica on d1');
    expect(status.servingRelease).toBe(d1);
    expect(status.replicas.every((replica) => replica.release === d1)).toBe(true);
    expect(failures(batches)).toEqual([]);
    const page = await fetch(`${current.httpUrl}/index.php`);
    expect(answeredBy(Object.fromEntries(page.headers))).toBe('d1');
    // The restarted daemon appended to the history it read at start.
    expect(
      readHistory(current).map((record) => [record.trigger, record.release, record.previous]),
    ).toEqual([
      ['deploy', d1, current.release],
      ['deploy', d2, d1],
      ['rollback', d1, d2],
    ]);
  });
});

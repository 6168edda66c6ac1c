import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { ManagedDaemon } from '../support/managed-daemon.js';
import { PHP_R1, PHP_R2, startPhpFpmDaemon } from '../support/php-fpm-daemon.js';
import { readHistory } from '../support/release-history-file.js';
import { stopAfterEach } from '../support/stop-after-each.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { waitFor } from '../support/wait-for.js';
import { holdWarmUp } from '../support/warm-up-gate.js';

// A followed flip whose release fails before its cut-over is abandoned: the replicas go back
// to the serving release, which takes as long as the new release's replicas take to stop. A
// deploy tool's next flip in that time (a fixed release, deployed again at once) is a switch
// of its own once the way back has ended: recorded, checked, put back should it fail.

const phpFpm = requireSystemTool(SystemTool.phpFpm);
const run = promisify(execFile);
let daemon: ManagedDaemon | null = null;

const keep = stopAfterEach();

describe.skipIf(phpFpm === undefined)('a flip while a failed switch goes back', () => {
  it('is followed as a switch of its own once the way back has ended', {
    timeout: 90_000,
  }, async () => {
    daemon = keep(
      await startPhpFpmDaemon({
        label: 'flip-going-back',
        phpFpm: phpFpm as string,
        warmup: ['/gate.php'],
      }),
    );
    const current = daemon;
    const d0 = current.release;
    const d1 = current.addRelease('d1', PHP_R2);
    const d2 = current.addRelease('d2', PHP_R1);

    // Both replicas of d1 (surge: a whole new set) are held in their warm-up.
    const hold = holdWarmUp(current.switchyard, d1);
    await run('ln', ['-sfn', d1, current.symlink]);
    const onD1 = await waitFor(
      async () => {
        const held = current.switchyard
          .stdout()
          .split('\n')
          .filter(
            (line) => line.includes(`gate.php: holding the warm-up of `) && line.includes(d1),
          );
        const replicas = (await current.status()).replicas.filter((r) => r.release === d1);
        return held.length >= 2 && replicas.length >= 2 ? replicas : null;
      },
      { timeoutMs: 30_000, what: 'two replicas of d1 held in their warm-up' },
    );
    // One of them dies before the cut-over: the switch to d1 is abandoned, and going back waits
    // for the other, whose php-fpm finishes its held warm-up request before it stops.
    process.kill(onD1[0]?.pids[0] as number, 'SIGKILL');
    await waitFor(
      () => current.switchyard.stdout().includes('the new release failed before the cut-over'),
      { timeoutMs: 20_000, what: 'the switch to d1 to go back' },
    );
    await run('ln', ['-sfn', d2, current.symlink]);
    await waitFor(
      () =>
        current.switchyard
          .stdout()
          .split('\n')
          .some((line) => line.includes(d2) && /symlink/.test(line)),
      { timeoutMs: 20_000, what: 'the daemon to see the flip to d2' },
    );
    hold.letGo();

    const status = await waitFor(
      async () => {
        const now = await current.status();
        return now.lastDeploy?.release === d2 &&
          now.servingRelease === d2 &&
          now.replicas.every((replica) => replica.state === 'ready' && replica.release === d2)
          ? now
          : null;
      },
      { timeoutMs: 40_000, intervalMs: 100, what: 'a switch to d2 recorded, every replica on it' },
    );
    expect(status.lastDeploy).toMatchObject({ trigger: 'symlink', release: d2, ok: true });
    expect(
      readHistory(current).map(({ release, ok, previous }) => ({ release, ok, previous })),
    ).toEqual([
      { release: d1, ok: false, previous: d0 },
      { release: d2, ok: true, previous: d0 },
    ]);
    expect(realpathSync(current.symlink)).toBe(d2);
  });
});

import { realpathSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ManagedDaemon } from '../support/managed-daemon.js';
import { PHP_R1, PHP_R2, startPhpFpmDaemon } from '../support/php-fpm-daemon.js';
import { readHistory } from '../support/release-history-file.js';
import { stopAfterEach } from '../support/stop-after-each.js';
import { type RunningCli, startCli } from '../support/switchyard-process.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { holdWarmUp } from '../support/warm-up-gate.js';

const phpFpm = requireSystemTool(SystemTool.phpFpm);

let daemon: ManagedDaemon | null = null;

const keep = stopAfterEach();

type Operation = readonly string[];

/** What the CLI says when the daemon refuses an operation because another one runs. */
const BUSY = /is running; (?:try again|\w+ again) when it has finished/;

/**
 * Starts `first` with its warm-up held on `heldRelease`, asks for every one of `others` while
 * it runs (each must be refused, touching nothing), then lets it go: it must complete.
 */
async function refusedWhileRunning(
  current: ManagedDaemon,
  first: Operation,
  heldRelease: string,
  others: readonly Operation[],
): Promise<RunningCli> {
  const hold = holdWarmUp(current.switchyard, heldRelease);
  const running = startCli([...first, '-c', current.switchyard.configPath]);
  await hold.reached();
  const before = await current.status();
  for (const other of others) {
    const refused = await current.cli(other);
    expect(refused.code, `${other.join(' ')}: ${refused.stdout}${refused.stderr}`).toBe(1);
    expect(refused.stderr, other.join(' ')).toMatch(BUSY);
    expect(refused.stdout, other.join(' ')).toBe('');
  }
  // The refused ones changed nothing: no switch recorded, no replica started elsewhere.
  const after = await current.status();
  expect(after.lastDeploy).toEqual(before.lastDeploy);
  const elsewhere = after.replicas.filter(
    (replica) =>
      replica.release !== null &&
      replica.release !== heldRelease &&
      replica.release !== before.servingRelease,
  );
  expect(elsewhere).toEqual([]);
  // Still under way after every refusal: nothing the refused operations did ended it.
  expect(running.stdout()).not.toMatch(/deployed|rolled back to|restart done/);
  hold.letGo();
  return running;
}

describe.skipIf(phpFpm === undefined)(
  'one switch at a time, refused by the real daemon (php-fpm replicas)',
  () => {
    it('while a deploy, a rollback or a restart runs, another deploy, restart or rollback is refused and the first completes', {
      timeout: 60_000,
    }, async () => {
      daemon = keep(
        await startPhpFpmDaemon({
          label: 'claims-busy',
          phpFpm: phpFpm as string,
          warmup: ['/gate.php'],
        }),
      );
      const current = daemon;
      const d0 = current.release;
      const d1 = current.addRelease('d1', PHP_R2);
      const d2 = current.addRelease('d2', PHP_R1);
      // Each refused while another runs, the second deploy aiming at a third release.
      const others: Operation[] = [
        ['deploy', d2],
        ['restart'],
        ['restart', '--replica', '1'],
        ['rollback'],
      ];

      // A deploy held before its cut-over.
      const deploy = await refusedWhileRunning(current, ['deploy', d1], d1, others);
      expect(await deploy.exited, deploy.stderr()).toBe(0);
      expect(deploy.stdout()).toContain(`deployed ${d1}`);
      expect(realpathSync(current.symlink)).toBe(d1);
      let status = await current.waitReady('every replica on d1');
      expect(status.servingRelease).toBe(d1);
      expect(status.replicas.every((replica) => replica.release === d1)).toBe(true);

      // A rollback held the same way (to d0, whose warm-up is held now).
      const rollback = await refusedWhileRunning(current, ['rollback'], d0, others);
      expect(await rollback.exited, rollback.stderr()).toBe(0);
      expect(rollback.stdout()).toContain(`rolled back to ${d0}`);
      expect(realpathSync(current.symlink)).toBe(d0);

      // A rolling restart held the same way: each replica warms up again on d0.
      const restart = await refusedWhileRunning(current, ['restart'], d0, others);
      expect(await restart.exited, restart.stderr()).toBe(0);
      expect(restart.stdout()).toContain('restart done');
      status = await current.waitReady('every replica restarted on d0');
      expect(status.servingRelease).toBe(d0);
      expect(status.replicas.every((replica) => replica.release === d0)).toBe(true);

      // Only the operations that ran are in the history: no refused one, and d2 never served.
      expect(readHistory(current).map((record) => [record.trigger, record.release])).toEqual([
        ['deploy', d1],
        ['rollback', d0],
      ]);
    });
  },
);

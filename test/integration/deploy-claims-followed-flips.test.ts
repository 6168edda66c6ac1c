import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { backwardSteps, failures, startDeployLoad } from '../support/deploy-load.js';
import type { ManagedDaemon } from '../support/managed-daemon.js';
import {
  answeredBy,
  PHP_R1,
  PHP_R2,
  RELEASE_HEADER,
  startPhpFpmDaemon,
} from '../support/php-fpm-daemon.js';
import { readHistory } from '../support/release-history-file.js';
import { stopAfterEach } from '../support/stop-after-each.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { waitFor } from '../support/wait-for.js';
import { holdWarmUp } from '../support/warm-up-gate.js';

const phpFpm = requireSystemTool(SystemTool.phpFpm);
const run = promisify(execFile);

let daemon: ManagedDaemon | null = null;

const keep = stopAfterEach();

const releaseIndex = (name: string): number => Number(name.replace(/^d/, ''));

describe.skipIf(phpFpm === undefined)(
  'symlink flips by a deploy tool during a switch (php-fpm replicas)',
  () => {
    it('coalesce: flips to d1, d2, d3 and d4 while the switch to d1 is held converge once, on d4', {
      timeout: 60_000,
    }, async () => {
      daemon = keep(
        await startPhpFpmDaemon({
          label: 'claims-flips',
          phpFpm: phpFpm as string,
          warmup: ['/gate.php'],
        }),
      );
      const current = daemon;
      const d0 = current.release;
      const [d1, d2, d3, d4] = [1, 2, 3, 4].map((k) =>
        current.addRelease(`d${k}`, k % 2 === 1 ? PHP_R2 : PHP_R1),
      ) as [string, string, string, string];
      const load = startDeployLoad({
        url: current.httpUrl,
        releaseHeader: RELEASE_HEADER,
        concurrency: 4,
        pathFor: (i) => (i % 8 === 0 ? '/sleep.php?ms=300' : '/index.php'),
      });

      const hold = holdWarmUp(current.switchyard, d1);
      await run('ln', ['-sfn', d1, current.symlink]);
      await hold.reached();
      // The switch to d1 cannot reach its cut-over now: every flip below arrives during it.
      for (const dir of [d2, d3, d4]) await run('ln', ['-sfn', dir, current.symlink]);
      await waitFor(
        () =>
          current.switchyard
            .stdout()
            .split('\n')
            .some((line) => line.includes('converging on the latest target') && line.includes(d4)),
        { timeoutMs: 15_000, what: 'the daemon to take d4 as the target of the running switch' },
      );
      hold.letGo();

      const status = await waitFor(
        async () => {
          const now = await current.status();
          return now.lastDeploy !== null &&
            now.servingRelease === d4 &&
            now.replicas.every((replica) => replica.state === 'ready' && replica.release === d4)
            ? now
            : null;
        },
        { timeoutMs: 40_000, intervalMs: 100, what: 'every replica to serve d4' },
      );
      expect(status.lastDeploy).toMatchObject({
        trigger: 'symlink',
        release: d4,
        previous: d0,
        ok: true,
      });
      // One switch, to the latest target: none per intermediate flip, recorded or queued.
      expect(readHistory(current).map((record) => record.release)).toEqual([d4]);
      expect(realpathSync(current.symlink)).toBe(d4);
      // Nothing else is under way: a deploy is taken at once and is the only other switch.
      const d5 = current.addRelease('d5', PHP_R2);
      const next = await current.cli(['deploy', d5]);
      expect(next.code, next.stderr).toBe(0);
      expect(readHistory(current).map((record) => record.release)).toEqual([d4, d5]);

      const batches = await load.stop();
      expect(failures(batches)).toEqual([]);
      expect(backwardSteps(batches, RELEASE_HEADER, releaseIndex)).toEqual([]);
      // The intermediate targets never served a request.
      const answered = new Set(batches.flat().map((response) => answeredBy(response.headers)));
      expect([...answered].filter((name) => !['d0', 'd4', 'd5'].includes(name))).toEqual([]);
      expect(answered.has('d0') && answered.has('d4')).toBe(true);
    });
  },
);

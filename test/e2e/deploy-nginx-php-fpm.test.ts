import { execFile } from 'node:child_process';
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { backwardSteps, failures, startMixedPhpLoad } from '../support/deploy-load.js';
import type { ManagedDaemon } from '../support/managed-daemon.js';
import { type RunningNginx, startNginx } from '../support/nginx.js';
import { PHP_R1, PHP_R2, RELEASE_HEADER, startPhpFpmDaemon } from '../support/php-fpm-daemon.js';
import { stopAfterEach } from '../support/stop-after-each.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

const phpFpm = requireSystemTool(SystemTool.phpFpm);
const nginx = requireSystemTool(SystemTool.nginx);
const run = promisify(execFile);

let daemon: ManagedDaemon | null = null;
let front: RunningNginx | null = null;

const keep = stopAfterEach();

async function startStack(
  label: string,
  extra: readonly string[] = [],
  realpathRoot = false,
): Promise<string> {
  daemon = keep(
    await startPhpFpmDaemon({
      label,
      phpFpm: phpFpm as string,
      capacity: 6,
      phpFpmExtra: extra,
      warmup: ['/index.php'],
      deployLimits: ['timeout = "60s"'],
    }),
  );
  front = keep(
    await startNginx({
      binary: nginx as string,
      dir: daemon.dir,
      fastcgiPass: `unix:${daemon.fastcgiSocket}`,
      documentRoot: daemon.symlink,
      realpathRoot,
    }),
  );
  return front.url;
}

const releaseIndex = (name: string): number => Number(name.replace(/^d/, ''));

describe.skipIf(phpFpm === undefined || nginx === undefined)(
  'deploys end to end: nginx → switchyard → php-fpm replicas it runs',
  () => {
    it('10 deploys in a row under load: no failure, no mixed release, never old after new', {
      timeout: 180_000,
    }, async () => {
      const url = await startStack('deploy-10');
      const current = daemon as ManagedDaemon;
      const load = startMixedPhpLoad(url, RELEASE_HEADER);
      const outputs: string[] = [];
      for (let k = 1; k <= 10; k += 1) {
        const dir = current.addRelease(`d${k}`, k % 2 === 1 ? PHP_R2 : PHP_R1);
        const result = await current.cli(['deploy', dir]);
        outputs.push(result.stdout);
        expect(result.code, `deploy ${k}: ${result.stderr}${result.stdout}`).toBe(0);
        expect(realpathSync(current.symlink)).toBe(dir);
      }
      const batches = await load.stop();
      expect(failures(batches)).toEqual([]);
      expect(backwardSteps(batches, RELEASE_HEADER, releaseIndex)).toEqual([]);
      // Each answer came whole from one release: the page's own directory matches the header.
      for (const response of batches.flat()) {
        const served = String(response.headers[RELEASE_HEADER.toLowerCase()]);
        if (response.body.toString().startsWith('{"release"')) {
          const page = JSON.parse(response.body.toString()) as { dir?: string };
          if (page.dir !== undefined) expect(basename(page.dir)).toBe(served);
        }
      }
      const answered = new Set(
        batches.flat().map((r) => String(r.headers[RELEASE_HEADER.toLowerCase()])),
      );
      expect(answered.size).toBeGreaterThanOrEqual(5);
      expect(outputs.join('\n')).toContain('cut-over');
      const status = await current.status();
      expect(status.servingRelease).toBe(realpathSync(join(current.dir, 'releases/d10')));
      expect(status.lastDeploy?.ok).toBe(true);
    });

    it('a release whose PHP dies is caught by the warm-up: old release serves, symlink left on it, exit 1', async () => {
      // nginx resolves the symlink itself ($realpath_root). The symlink moves only at a
      // cut-over, which a broken release never reaches: it stays on the old release throughout.
      const url = await startStack('deploy-broken', [], true);
      const current = daemon as ManagedDaemon;
      const before = realpathSync(current.symlink);
      const broken = current.addRelease('broken', PHP_R2);
      writeFileSync(
        join(broken, 'index.php'),
        '<?php\nundefined_function_of_a_broken_release();\n',
      );
      const load = startMixedPhpLoad(url, RELEASE_HEADER);
      const result = await current.cli(['deploy', broken]);
      const batches = await load.stop();
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('warm-up GET /index.php answered 500');
      expect(result.stderr).toContain('undefined_function_of_a_broken_release');
      expect(realpathSync(current.symlink)).toBe(before);
      expect(failures(batches)).toEqual([]);
      const served = new Set(
        batches.flat().map((r) => String(r.headers[RELEASE_HEADER.toLowerCase()])),
      );
      expect([...served]).toEqual(['d0']);
      const status = await current.waitReady('both replicas back on the old release');
      expect(status.replicas.every((replica) => replica.release === before)).toBe(true);
      expect(status.lastDeploy?.ok).toBe(false);
      // The daemon is fine for the next deploy.
      const good = current.addRelease('d1', PHP_R2);
      const next = await current.cli(['deploy', good]);
      expect(next.code, next.stderr).toBe(0);
    });

    it('refuses a missing directory before anything changes', async () => {
      await startStack('deploy-missing');
      const current = daemon as ManagedDaemon;
      const before = realpathSync(current.symlink);
      const pids = await current.replicaPids();
      const result = await current.cli(['deploy', join(current.dir, 'releases/nope')]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('deploy refused');
      expect(result.stderr).toContain('does not exist');
      expect(realpathSync(current.symlink)).toBe(before);
      expect(await current.replicaPids()).toEqual(pids);
      const again = await current.cli(['deploy', before]);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('already the current release');
    });

    it('a pool option php-fpm refuses: masters fail to start, the old release serves on, exit 1', async () => {
      const poolDir = makeTempDir('pool');
      const poolFile = join(poolDir.path, 'pool.conf');
      writeFileSync(poolFile, 'pm.max_requests = 500\n');
      try {
        const url = await startStack('deploy-pool', [`pool = "${poolFile}"`]);
        const current = daemon as ManagedDaemon;
        const before = realpathSync(current.symlink);
        writeFileSync(poolFile, 'pm.max_requests = 500\nno_such_directive = 1\n');
        const load = startMixedPhpLoad(url, RELEASE_HEADER);
        const result = await current.cli(['deploy', current.addRelease('d1', PHP_R2)]);
        const batches = await load.stop();
        expect(result.code).toBe(1);
        expect(result.stderr).toContain('no_such_directive');
        expect(realpathSync(current.symlink)).toBe(before);
        expect(failures(batches)).toEqual([]);
        writeFileSync(poolFile, 'pm.max_requests = 500\n');
        await current.waitReady('the failed replica to come back once the pool file is fixed');
      } finally {
        poolDir.remove();
      }
    });

    it('follows an external ln -sfn, coalesces three quick flips into one switch, and rolls back under load', async () => {
      const url = await startStack('deploy-follow');
      const current = daemon as ManagedDaemon;
      const d0 = realpathSync(current.symlink);
      const d1 = current.addRelease('d1', PHP_R2);
      const d2 = current.addRelease('d2', PHP_R1);
      const d3 = current.addRelease('d3', PHP_R2);
      const load = startMixedPhpLoad(url, RELEASE_HEADER);

      await run('ln', ['-sfn', d1, current.symlink]);
      await waitFor(async () => (await current.status()).lastDeploy?.release === d1, {
        timeoutMs: 30_000,
        what: 'the daemon to follow the flip to d1',
      });
      const afterFirst = (await current.status()).lastDeploy;
      expect(afterFirst?.trigger).toBe('symlink');
      expect(afterFirst?.ok).toBe(true);

      for (const dir of [d2, d3, d2]) await run('ln', ['-sfn', dir, current.symlink]);
      await run('ln', ['-sfn', d3, current.symlink]);
      await waitFor(
        async () => {
          const status = await current.status();
          return status.lastDeploy?.release === d3 && status.servingRelease === d3;
        },
        { timeoutMs: 30_000, what: 'the daemon to converge on d3' },
      );
      const history = JSON.parse(
        readFileSync(join(current.dir, 'state', 'releases.json'), 'utf8'),
      ) as unknown;
      const records = (
        Array.isArray(history) ? history : (history as { records: unknown[] }).records
      ) as Array<{
        release: string;
      }>;
      // d1, then one switch that ended on d3: the intermediate flips were never converged on.
      expect(records.map((record) => basename(record.release))).toEqual(['d1', 'd3']);

      const rollback = await current.cli(['rollback']);
      expect(rollback.code, rollback.stderr).toBe(0);
      expect(realpathSync(current.symlink)).toBe(d1);
      const batches = await load.stop();
      expect(failures(batches)).toEqual([]);
      expect((await current.status()).servingRelease).toBe(d1);
      expect(d0).not.toBe(d1);
    });
  },
);

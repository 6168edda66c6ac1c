import { execFile } from 'node:child_process';
import { cpSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { failures, startDeployLoad } from '../support/deploy-load.js';
import type { HttpLoadResponse } from '../support/http-load.js';
import { type ManagedDaemon, startManagedDaemon } from '../support/managed-daemon.js';
import {
  answeredBy,
  PHP_R1,
  PHP_R2,
  RELEASE_HEADER,
  startPhpFpmDaemon,
} from '../support/php-fpm-daemon.js';
import { repoRoot } from '../support/repo-root.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

const phpCgi = requireSystemTool(SystemTool.phpCgi);
const phpFpm = requireSystemTool(SystemTool.phpFpm);
const run = promisify(execFile);

const BROKEN = join(repoRoot, 'fixtures/php/broken-releases');

let daemon: ManagedDaemon | null = null;
let poolDir: { path: string; remove: () => void } | null = null;

afterEach(async () => {
  await daemon?.cleanup();
  daemon = null;
  poolDir?.remove();
  poolDir = null;
});

/**
 * php-cgi replicas: php-cgi reads the php.ini of its working directory, the release, and the
 * health check runs the release's own health.php (php-fpm answers its ping itself, without
 * PHP, so no release can fail it there).
 */
async function startPhpCgiStack(label: string): Promise<ManagedDaemon> {
  daemon = await startManagedDaemon({
    label,
    firstRelease: 'd0',
    replicas: [
      '[replicas]',
      'kind = "command"',
      'count = 2',
      'capacity = 3',
      '[replicas.command]',
      `argv = ["${phpCgi}"]`,
    ],
    releaseSource: PHP_R1,
    extra: [
      '[health]',
      'path = "/health.php"',
      'expect = "ok"',
      'interval = "500ms"',
      'timeout = "2s"',
      // A release whose health check keeps failing is given up on after this long.
      'start_timeout = "8s"',
      '[response]',
      `release_header = "${RELEASE_HEADER}"`,
      '[deploy]',
      'warmup = ["/index.php"]',
      'timeout = "60s"',
    ],
  });
  return daemon;
}

/**
 * php-fpm replicas whose pool file preloads each release's `preload.php`: a release whose
 * preload fails is one php-fpm refuses to start for.
 */
async function startPreloadingPhpFpmStack(label: string): Promise<ManagedDaemon> {
  poolDir = makeTempDir('claims-pool');
  const pool = join(poolDir.path, 'pool.conf');
  writeFileSync(pool, 'php_admin_value[opcache.preload] = preload.php\n');
  daemon = await startPhpFpmDaemon({
    label,
    phpFpm: phpFpm as string,
    warmup: ['/index.php'],
    pool,
  });
  return daemon;
}

/** A copy of release r2 with the files of `fixtures/php/broken-releases/<how>` laid over it. */
function brokenRelease(current: ManagedDaemon, how: 'no-boot' | 'unhealthy'): string {
  const dir = current.addRelease(how, PHP_R2);
  cpSync(join(BROKEN, how), dir, { recursive: true });
  return dir;
}

function load(url: string) {
  return startDeployLoad({
    url,
    releaseHeader: RELEASE_HEADER,
    concurrency: 4,
    pathFor: (i) => (i % 8 === 0 ? '/sleep.php?ms=300' : '/index.php'),
  });
}

function releasesAnswering(batches: readonly HttpLoadResponse[][]): string[] {
  return [...new Set(batches.flat().map((response) => answeredBy(response.headers)))];
}

/** PHP's own fatal error when the release's preload.php cannot load Composer's autoloader. */
const PRELOAD_FAILED = /Failed opening required '[^']*\/no-boot\/vendor\/autoload\.php'/;

/**
 * `switchyard deploy <broken>` under load: the old release serves throughout, the deploy exits
 * 1 naming `reason` and quoting the worker's `output`, the symlink ends on the old release,
 * and the next deploy of a good release works.
 */
async function expectDeployOfBrokenReleaseFails(
  current: ManagedDaemon,
  broken: string,
  reason: RegExp,
  output: RegExp,
): Promise<void> {
  const before = realpathSync(current.symlink);
  const running = load(current.httpUrl);
  const result = await current.cli(['deploy', broken]);
  const batches = await running.stop();

  expect(result.code, result.stdout + result.stderr).toBe(1);
  expect(result.stderr).toContain('deploy failed');
  expect(result.stderr).toMatch(reason);
  expect(result.stderr).toMatch(output);
  expect(realpathSync(current.symlink)).toBe(before);
  expect(failures(batches)).toEqual([]);
  expect(batches.flat().length).toBeGreaterThan(0);
  expect(releasesAnswering(batches)).toEqual(['d0']);
  const status = await current.waitReady('every replica back on the old release');
  expect(status.servingRelease).toBe(before);
  expect(status.replicas.every((replica) => replica.release === before)).toBe(true);
  expect(status.lastDeploy).toMatchObject({ release: broken, ok: false });

  const good = current.addRelease('d1', PHP_R2);
  const next = await current.cli(['deploy', good]);
  expect(next.code, next.stderr).toBe(0);
  expect(realpathSync(current.symlink)).toBe(good);
  const page = await fetch(`${current.httpUrl}/index.php`);
  expect(answeredBy(Object.fromEntries(page.headers))).toBe('d1');
  expect(((await page.json()) as { release: string }).release).toBe('r2');
}

describe.skipIf(phpCgi === undefined)(
  'a broken release under a plain `switchyard deploy` (php-cgi replicas)',
  () => {
    it('one that does not boot (php-cgi exits at startup on its php.ini): the old release serves throughout, the symlink is back, exit 1 with PHP’s output, the next deploy works', async () => {
      const current = await startPhpCgiStack('claims-no-boot');
      await expectDeployOfBrokenReleaseFails(
        current,
        brokenRelease(current, 'no-boot'),
        /replica-\d on [^:]*\/no-boot: process \d+ exited unexpectedly \(code 255\)/,
        PRELOAD_FAILED,
      );
    });

    it('one that fails its health check: the old release serves throughout, the symlink is back, exit 1 with what the check got and the worker’s output, the next deploy works', async () => {
      const current = await startPhpCgiStack('claims-unhealthy');
      await expectDeployOfBrokenReleaseFails(
        current,
        brokenRelease(current, 'unhealthy'),
        // What the health checks got: the application answered, with an error status.
        /replica-\d on [^:]*\/unhealthy: no healthy answer on \/health\.php within 8000 ms: status 503/,
        // What health.php wrote on its stderr.
        /health\.php: database unreachable: connection refused \(release unhealthy\)/,
      );
    });

    it('a flip with `ln -sfn` to a release that does not boot: the symlink goes back to the serving release, which kept serving', async () => {
      const current = await startPhpCgiStack('claims-follow-broken');
      const before = realpathSync(current.symlink);
      const broken = brokenRelease(current, 'no-boot');

      const running = load(current.httpUrl);
      await run('ln', ['-sfn', broken, current.symlink]);
      const failed = await waitFor(
        async () => {
          const last = (await current.status()).lastDeploy;
          return last?.release === broken ? last : null;
        },
        {
          timeoutMs: 30_000,
          intervalMs: 100,
          what: 'the followed switch to the broken release to end',
        },
      );
      await waitFor(() => realpathSync(current.symlink) === before, {
        timeoutMs: 10_000,
        what: 'the symlink to be back on the serving release',
      });
      const status = await current.waitReady('every replica back on the old release');
      const batches = await running.stop();

      expect(failed).toMatchObject({ trigger: 'symlink', ok: false, previous: before });
      expect(failed.message).toMatch(PRELOAD_FAILED);
      expect(status.servingRelease).toBe(before);
      expect(status.replicas.every((replica) => replica.release === before)).toBe(true);
      expect(failures(batches)).toEqual([]);
      expect(releasesAnswering(batches)).toEqual(['d0']);
      // The failure is logged, with PHP's own error.
      const logged = current.switchyard
        .stdout()
        .split('\n')
        .filter((line) => line.includes('release switch failed'));
      expect(logged.join('\n')).toContain('vendor/autoload.php');

      // A flip to a good release afterwards is followed.
      const good = current.addRelease('d1', PHP_R2);
      await run('ln', ['-sfn', good, current.symlink]);
      await waitFor(
        async () => {
          const now = await current.status();
          return (
            now.lastDeploy?.release === good && now.lastDeploy.ok && now.servingRelease === good
          );
        },
        { timeoutMs: 30_000, intervalMs: 100, what: 'the daemon to follow the flip to d1' },
      );
      expect(realpathSync(current.symlink)).toBe(good);
    });
  },
);

describe.skipIf(phpFpm === undefined)(
  'a release php-fpm refuses to start for, under a plain `switchyard deploy`',
  () => {
    it('its preload fails, so its masters exit at start: the old release serves throughout, the symlink is back, exit 1 with php-fpm’s output, the next deploy works', async () => {
      const current = await startPreloadingPhpFpmStack('claims-fpm-no-boot');
      await expectDeployOfBrokenReleaseFails(
        current,
        brokenRelease(current, 'no-boot'),
        /replica-\d on [^:]*\/no-boot: did not start: php-fpm for replica-\d exited with .* before listening/,
        PRELOAD_FAILED,
      );
    });
  },
);

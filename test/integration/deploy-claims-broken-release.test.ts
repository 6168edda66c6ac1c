import { execFile } from 'node:child_process';
import { cpSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { failures, startDeployLoad } from '../support/deploy-load.js';
import type { HttpLoadResponse } from '../support/http-load.js';
import { type ManagedDaemon, startManagedDaemon } from '../support/managed-daemon.js';
import { repoRoot } from '../support/repo-root.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { waitFor } from '../support/wait-for.js';

// php-cgi, not php-fpm: a php-fpm master's start and its ping (answered by php-fpm itself,
// running no PHP) do not depend on the release, while php-cgi reads the release's own php.ini
// from its working directory and the health check runs the release's own health.php.
const phpCgi = requireSystemTool(SystemTool.phpCgi);
const run = promisify(execFile);

const R1 = join(repoRoot, 'fixtures/php/releases/r1');
const R2 = join(repoRoot, 'fixtures/php/releases/r2');
const BROKEN = join(repoRoot, 'fixtures/php/broken-releases');
const HEADER = 'X-Served-Release';

let daemon: ManagedDaemon | null = null;

afterEach(async () => {
  await daemon?.cleanup();
  daemon = null;
});

async function startStack(label: string): Promise<ManagedDaemon> {
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
    releaseSource: R1,
    extra: [
      '[health]',
      'path = "/health.php"',
      'expect = "ok"',
      'interval = "500ms"',
      'timeout = "2s"',
      // A release whose health check keeps failing is given up on after this long.
      'start_timeout = "8s"',
      '[response]',
      `release_header = "${HEADER}"`,
      '[deploy]',
      'warmup = ["/index.php"]',
      'timeout = "60s"',
    ],
  });
  return daemon;
}

/** A copy of release r2 with the files of `fixtures/php/broken-releases/<how>` laid over it. */
function brokenRelease(current: ManagedDaemon, how: 'no-boot' | 'unhealthy'): string {
  const dir = current.addRelease(how, R2);
  cpSync(join(BROKEN, how), dir, { recursive: true });
  return dir;
}

function load(url: string) {
  return startDeployLoad({
    url,
    releaseHeader: HEADER,
    concurrency: 4,
    pathFor: (i) => (i % 8 === 0 ? '/sleep.php?ms=300' : '/index.php'),
  });
}

function releasesAnswering(batches: readonly HttpLoadResponse[][]): string[] {
  return [...new Set(batches.flat().map((r) => String(r.headers[HEADER.toLowerCase()])))];
}

describe.skipIf(phpCgi === undefined)(
  'a broken release under a plain `switchyard deploy` (php-cgi replicas)',
  () => {
    it.each([
      {
        how: 'no-boot' as const,
        reason: /replica-\d on [^:]*\/no-boot: process \d+ exited unexpectedly \(code 255\)/,
        // PHP's own fatal error, printed as php-cgi exits at startup.
        output: /Failed opening required '[^']*\/no-boot\/vendor\/autoload\.php'/,
      },
      {
        how: 'unhealthy' as const,
        // What the health check got: the application answered, with an error status.
        reason:
          /replica-\d on [^:]*\/unhealthy: no healthy answer on \/health\.php within 8000 ms: status 503/,
        // What health.php wrote on its stderr.
        output: /health\.php: database unreachable: connection refused \(release unhealthy\)/,
      },
    ])(
      '$how: the old release serves throughout, the symlink is back, exit 1 with the worker output, the next deploy works',
      {
        timeout: 60_000,
      },
      async ({ how, reason, output }) => {
        const current = await startStack(`claims-${how}`);
        const before = realpathSync(current.symlink);
        const broken = brokenRelease(current, how);

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

        const good = current.addRelease('d1', R2);
        const next = await current.cli(['deploy', good]);
        expect(next.code, next.stderr).toBe(0);
        expect(realpathSync(current.symlink)).toBe(good);
        const page = await fetch(`${current.httpUrl}/index.php`);
        expect(page.headers.get(HEADER)).toBe('d1');
        expect(((await page.json()) as { release: string }).release).toBe('r2');
      },
    );

    it('a flip with `ln -sfn` to a release that does not boot: the symlink goes back to the serving release, which kept serving', {
      timeout: 60_000,
    }, async () => {
      const current = await startStack('claims-follow-broken');
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
      expect(failed.message).toMatch(
        /Failed opening required '[^']*\/no-boot\/vendor\/autoload\.php'/,
      );
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
      const good = current.addRelease('d1', R2);
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

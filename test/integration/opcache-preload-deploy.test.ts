import { realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { backwardSteps, failures, startDeployLoad } from '../support/deploy-load.js';
import type { ManagedDaemon } from '../support/managed-daemon.js';
import { RELEASE_HEADER, startPhpFpmDaemon } from '../support/php-fpm-daemon.js';
import { repoRoot } from '../support/repo-root.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { makeTempDir } from '../support/temp-dir.js';

const phpFpm = requireSystemTool(SystemTool.phpFpm);

/** Two releases preloading two versions of `App\Version`, each with a method the other lacks. */
const R1 = join(repoRoot, 'fixtures/preload/releases/r1');
const R2 = join(repoRoot, 'fixtures/preload/releases/r2');

interface VersionPage {
  readonly release: string;
  readonly version: string;
  readonly answer: string;
  readonly preloaded: boolean;
  readonly methods: readonly string[];
}

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * The daemon running php-fpm replicas whose pool file sets opcache.preload, first with a path
 * relative to the release (`preload.php`); `poolFile` lets a test rewrite it (each replica
 * start reads it again).
 */
async function startPreloading(
  label: string,
): Promise<{ daemon: ManagedDaemon; poolFile: string }> {
  const poolDir = makeTempDir(`${label}-pool`);
  cleanups.push(poolDir.remove);
  const poolFile = join(poolDir.path, 'pool.conf');
  writeFileSync(poolFile, 'php_admin_value[opcache.preload] = preload.php\n');
  const daemon = await startPhpFpmDaemon({
    label,
    phpFpm: phpFpm as string,
    pool: poolFile,
    releaseSource: R1,
    warmup: ['/version.php'],
    deployLimits: ['timeout = "60s"'],
  });
  cleanups.push(() => daemon.cleanup());
  return { daemon, poolFile };
}

/** Mostly quick pages, some holding their worker across a cut-over. */
function versionLoad(url: string) {
  return startDeployLoad({
    url,
    releaseHeader: RELEASE_HEADER,
    concurrency: 4,
    pathFor: (i) => (i % 5 === 0 ? '/version.php?ms=300' : '/version.php'),
  });
}

describe.skipIf(phpFpm === undefined)('opcache.preload in the pool file, across deploys', () => {
  it('r1 → r2 → r1 under load: each replica preloads its own release, no clash, no failure', {
    timeout: 120_000,
  }, async () => {
    const { daemon, poolFile } = await startPreloading('preload');
    // From here on a path through the release symlink, as the README shows it: it must be read
    // inside each new replica's release, wherever the symlink points while it starts.
    writeFileSync(poolFile, `php_admin_value[opcache.preload] = ${daemon.symlink}/preload.php\n`);
    const releaseOf: Record<string, string> = { d0: 'r1', d1: 'r2', d2: 'r1' };
    const load = versionLoad(daemon.httpUrl);
    for (const [name, source] of [
      ['d1', R2],
      ['d2', R1],
    ] as const) {
      const dir = daemon.addRelease(name, source);
      const result = await daemon.cli(['deploy', dir]);
      expect(result.code, `deploy ${name}: ${result.stderr}${result.stdout}`).toBe(0);
      expect(realpathSync(daemon.symlink)).toBe(dir);
      expect((await daemon.status()).servingRelease).toBe(dir);
    }
    const batches = await load.stop();

    expect(failures(batches)).toEqual([]);
    expect(backwardSteps(batches, RELEASE_HEADER, (name) => Number(name.slice(1)))).toEqual([]);
    const seen = new Set<string>();
    for (const response of batches.flat()) {
      const served = String(response.headers[RELEASE_HEADER.toLowerCase()]);
      const page = JSON.parse(response.body.toString()) as VersionPage;
      seen.add(served);
      // The code and the preloaded class came from the one release that answered.
      expect(page, `answered by ${served}`).toEqual({
        release: releaseOf[served],
        version: releaseOf[served],
        answer: `only in ${releaseOf[served]}`,
        preloaded: true,
        methods: [`onlyIn${releaseOf[served]?.toUpperCase()}`],
        replica: expect.stringMatching(/^replica-\d+$/),
      });
    }
    expect([...seen].sort()).toEqual(['d0', 'd1', 'd2']);
    // Worker output reaches the daemon's log: no PHP error of any kind was written there.
    const log = daemon.switchyard.stdout() + daemon.switchyard.stderr();
    expect(log).not.toMatch(/Cannot (re)?declare|Fatal error|PHP Warning/);
  });

  it('a release whose preload script fails does not start: the old release serves on, exit 1', {
    timeout: 90_000,
  }, async () => {
    const { daemon } = await startPreloading('preload-broken');
    const before = realpathSync(daemon.symlink);
    const broken = daemon.addRelease('broken', R2);
    writeFileSync(join(broken, 'preload.php'), '<?php\nundefined_function_in_preload();\n');
    const load = versionLoad(daemon.httpUrl);
    const result = await daemon.cli(['deploy', broken]);
    const batches = await load.stop();
    expect(result.code).toBe(1);
    // php-fpm's own words: the master died preloading, before it listened.
    expect(result.stderr).toContain('undefined_function_in_preload');
    expect(realpathSync(daemon.symlink)).toBe(before);
    expect(failures(batches)).toEqual([]);
    const served = new Set(
      batches.flat().map((r) => String(r.headers[RELEASE_HEADER.toLowerCase()])),
    );
    expect([...served]).toEqual(['d0']);
    await daemon.waitReady('both replicas back on the old release');
    const next = await daemon.cli(['deploy', daemon.addRelease('d1', R2)]);
    expect(next.code, next.stderr).toBe(0);
  });
});

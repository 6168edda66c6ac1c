import { execFile } from 'node:child_process';
import { realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ManagedDaemon, startManagedDaemon } from '../support/managed-daemon.js';
import { repoRoot } from '../support/repo-root.js';
import { switchyardCommand } from '../support/switchyard-process.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { waitFor } from '../support/wait-for.js';

// `switchyard await` after the exact commands deploy tools run to flip `current`, against a
// real daemon running php-fpm replicas:
//   Deployer 7 (deploy:release, then deploy:symlink with use_atomic_symlink and
//   use_relative_symlink, as GNU coreutils has both):
//     cd {{deploy_path}} && ln -nfs --relative releases/N {{deploy_path}}/release
//     mv -T {{deploy_path}}/release {{deploy_path}}/current
//   Capistrano 3 (deploy:symlink:release):
//     ln -s {{release_path}} {{deploy_to}}/releases/current
//     mv {{deploy_to}}/releases/current {{deploy_to}}

const phpFpm = requireSystemTool(SystemTool.phpFpm);
const php = requireSystemTool(SystemTool.php);
const run = promisify(execFile);
const R1 = join(repoRoot, 'fixtures/php/releases/r1');
const R2 = join(repoRoot, 'fixtures/php/releases/r2');

let daemon: ManagedDaemon;

beforeAll(async () => {
  if (phpFpm === undefined) return;
  daemon = await startManagedDaemon({
    label: 'await-tools',
    firstRelease: 'd0',
    replicas: [
      '[replicas]',
      'kind = "php-fpm"',
      'count = 2',
      'capacity = 3',
      '[replicas.php_fpm]',
      `binary = "${phpFpm}"`,
    ],
    releaseSource: R1,
    releaseExtra: ['root = "<dir>/releases"'],
    extra: [
      '[health]',
      'interval = "1s"',
      'timeout = "2s"',
      'start_timeout = "20s"',
      '[deploy]',
      'warmup = ["/index.php"]',
      'timeout = "60s"',
    ],
  });
}, 60_000);

afterAll(async () => {
  await daemon?.cleanup();
});

/** Deployer 7's deploy:release link and deploy:symlink; returns {{release_path}}. */
async function deployerFlip(name: string): Promise<string> {
  const deployPath = daemon.dir;
  await run('ln', ['-nfs', '--relative', `releases/${name}`, `${deployPath}/release`], {
    cwd: deployPath,
  });
  await run('mv', ['-T', `${deployPath}/release`, `${deployPath}/current`]);
  // release_path: deploy_path joined with the release link's (relative) target.
  return `${deployPath}/releases/${name}`;
}

/** Capistrano 3's deploy:symlink:release; returns release_path. */
async function capistranoFlip(name: string): Promise<string> {
  const deployTo = daemon.dir;
  const releasePath = `${deployTo}/releases/${name}`;
  await run('ln', ['-s', releasePath, `${deployTo}/releases/current`]);
  await run('mv', [`${deployTo}/releases/current`, deployTo]);
  return releasePath;
}

/**
 * The shipped Deployer recipe, run around Deployer 7's own deploy:release link and
 * deploy:symlink commands by fixtures/deployer/run-recipe.php (Deployer is not packaged for
 * Debian): exit 1 with switchyard's reason is the deploy failing.
 */
async function deployerRecipe(name: string) {
  const bin = switchyardCommand.map((part) => `'${part.replaceAll("'", "'\\''")}'`).join(' ');
  return run(
    php as string,
    [
      join(repoRoot, 'fixtures/deployer/run-recipe.php'),
      join(repoRoot, 'deploy/deployer/switchyard.php'),
      daemon.dir,
      name,
      bin,
      daemon.switchyard.configPath,
    ],
    { encoding: 'utf8' },
  ).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({
      code: error.code,
      stdout: error.stdout,
      stderr: error.stderr,
    }),
  );
}

/** A copy of R2 whose page dies: it fails the warm-up. */
function brokenRelease(name: string): string {
  const dir = daemon.addRelease(name, R2);
  writeFileSync(join(dir, 'index.php'), '<?php\nundefined_function_of_a_broken_release();\n');
  return dir;
}

describe.skipIf(phpFpm === undefined)(
  'switchyard await after a deploy tool flips the symlink',
  {
    timeout: 120_000,
  },
  () => {
    it('Deployer and Capistrano flips to good releases: exit 0, every replica on it', async () => {
      for (const [tool, flip, name] of [
        ['Deployer', deployerFlip, 'd1'],
        ['Capistrano', capistranoFlip, 'd2'],
      ] as const) {
        const dir = daemon.addRelease(name, name === 'd1' ? R2 : R1);
        const releasePath = await flip(name);
        const result = await daemon.cli(['await', '--release', releasePath]);
        expect(result.code, `${tool}: ${result.stderr}`).toBe(0);
        // The switch may be over before the CLI has connected (then there is no progress
        // left to print); the slow release below shows the progress.
        expect(result.stdout).toContain(`every replica serves ${dir}`);
        const status = await daemon.status();
        expect(status.servingRelease).toBe(dir);
        expect(status.replicas.every((replica) => replica.release === dir)).toBe(true);
        expect(status.lastDeploy).toMatchObject({ trigger: 'symlink', release: dir, ok: true });
        expect(realpathSync(daemon.symlink)).toBe(dir);
      }
      // Asked again later: it serves already, exit 0 at once.
      const again = await daemon.cli(['await']);
      expect(again.code, again.stderr).toBe(0);
    });

    it('a release that fails its warm-up: exit 1 with the worker’s output, symlink put back', async () => {
      for (const [tool, flip, name] of [
        ['Deployer', deployerFlip, 'broken-dep'],
        ['Capistrano', capistranoFlip, 'broken-cap'],
      ] as const) {
        const before = realpathSync(daemon.symlink);
        brokenRelease(name);
        const releasePath = await flip(name);
        const result = await daemon.cli(['await', '--release', releasePath]);
        expect(result.code, `${tool}: ${result.stdout}`).toBe(1);
        expect(result.stderr).toContain('await failed');
        expect(result.stderr).toContain('warm-up GET /index.php answered 500');
        expect(result.stderr).toContain('undefined_function_of_a_broken_release');
        expect(result.stderr).toContain(`the symlink points at ${before} again`);
        expect(realpathSync(daemon.symlink)).toBe(before);
        expect((await daemon.status()).servingRelease).toBe(before);
      }
    });

    it('a failure the daemon put back before await connected is still reported', async () => {
      const before = realpathSync(daemon.symlink);
      brokenRelease('broken-early');
      const releasePath = await deployerFlip('broken-early');
      // The daemon's watcher follows the flip on its own, fails, and puts the symlink back.
      await waitFor(
        async () => {
          const last = (await daemon.status()).lastDeploy;
          return last?.release === releasePath && last.ok === false;
        },
        { timeoutMs: 60_000, what: 'the daemon to abandon the flip by itself' },
      );
      expect(realpathSync(daemon.symlink)).toBe(before);

      const named = await daemon.cli(['await', '--release', releasePath]);
      expect(named.code).toBe(1);
      expect(named.stderr).toContain(`the switch to ${releasePath}`);
      expect(named.stderr).toContain('warm-up GET /index.php answered 500');

      // Without --release the symlink names the serving release, but the last switch was a
      // flip that failed and was put back: that is what the deploy tool needs to hear.
      const unnamed = await daemon.cli(['await']);
      expect(unnamed.code).toBe(1);
      expect(unnamed.stderr).toContain(`the last flip of the symlink, to ${releasePath}`);
    });

    it('a flip outside release.root: exit 1 with the reason, nothing moves; a timeout names itself', async () => {
      const before = realpathSync(daemon.symlink);
      const outside = daemon.addRelease('../outside', R2);
      await run('ln', ['-sfn', outside, daemon.symlink]);
      const refused = await daemon.cli(['await', '--release', outside]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('outside release.root');
      expect((await daemon.status()).servingRelease).toBe(before);
      await run('ln', ['-sfn', before, daemon.symlink]);

      // A warm-up (7 s) slower than the wait: the wait ends, the switch goes on and succeeds; a
      // second wait, from before its cut-over, prints its progress.
      const slow = daemon.addRelease('slow', R2);
      writeFileSync(join(slow, 'index.php'), '<?php\nusleep(7000000);\necho "slow\\n";\n');
      const releasePath = await capistranoFlip('slow');
      const timedOut = await daemon.cli(['await', '--release', releasePath, '--timeout', '1s']);
      expect(timedOut.code).toBe(1);
      expect(timedOut.stderr).toContain('timed out after 1s');
      const later = await daemon.cli(['await', '--release', releasePath, '--timeout', '60s']);
      expect(later.code, later.stderr).toBe(0);
      // Progress as `deploy` prints it: replica steps on the new release and the cut-over.
      expect(later.stdout).toMatch(/replica-\d+ +ready +pid \d+ +slow/);
      expect(later.stdout).toContain('cut-over  new requests now go to');
      expect((await daemon.status()).servingRelease).toBe(slow);
    });
  },
);

describe.skipIf(phpFpm === undefined || php === undefined)(
  'the Deployer recipe',
  {
    timeout: 120_000,
  },
  () => {
    it('after deploy:symlink runs switchyard await: a good release deploys, a broken one fails the deploy', async () => {
      const good = daemon.addRelease('recipe-good', R1);
      const deployed = await deployerRecipe('recipe-good');
      expect(deployed.code, deployed.stderr).toBe(0);
      expect(deployed.stdout).toContain(`every replica serves ${good}`);
      expect((await daemon.status()).servingRelease).toBe(good);

      brokenRelease('recipe-broken');
      const failed = await deployerRecipe('recipe-broken');
      expect(failed.code).toBe(1);
      expect(failed.stderr).toContain('await failed');
      expect(failed.stderr).toContain('undefined_function_of_a_broken_release');
      expect(realpathSync(daemon.symlink)).toBe(good);
      expect((await daemon.status()).servingRelease).toBe(good);
    });
  },
);

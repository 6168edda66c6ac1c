import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DeployTargetError, type DeployTargetReason } from '../../../src/release/deploy-error.js';
import {
  type DeployTargetOptions,
  resolveDeployTarget,
} from '../../../src/release/deploy-target.js';
import { makeTempDir } from '../../support/temp-dir.js';

// <temp>/app/current -> releases/a, beside releases/{a,b}, a file, an escape and a dangling link.
// realpath: the temp dir may itself be reached through a symlink (/tmp on some systems).
const temp = makeTempDir('target');
afterAll(() => temp.remove());
const base = realpathSync(temp.path);
const app = join(base, 'app');
const releases = join(app, 'releases');
const outside = join(base, 'outside');
for (const dir of [join(releases, 'a'), join(releases, 'b'), outside]) {
  mkdirSync(dir, { recursive: true });
}
writeFileSync(join(releases, 'notes.txt'), 'not a release\n');
symlinkSync(outside, join(releases, 'escape'));
symlinkSync('b', join(releases, 'latest'));
symlinkSync(join(releases, 'gone'), join(releases, 'dangling'));
const symlink = join(app, 'current');
symlinkSync('releases/a', symlink);
// The app directory reached another way: the symlink through a symlinked parent.
symlinkSync(app, join(base, 'app-alias'));

const OPTIONS: DeployTargetOptions = {
  symlink,
  root: releases,
  current: join(releases, 'a'),
  force: false,
};

/** The DeployTargetError resolveDeployTarget throws for `target`. */
function refusal(target: string, options: Partial<DeployTargetOptions> = {}): DeployTargetError {
  try {
    resolveDeployTarget(target, { ...OPTIONS, ...options });
  } catch (error) {
    expect(error).toBeInstanceOf(DeployTargetError);
    return error as DeployTargetError;
  }
  return expect.unreachable(`${target} was accepted`);
}

describe('resolveDeployTarget', () => {
  it('returns the realpath of a release directory', () => {
    expect(resolveDeployTarget(join(releases, 'b'), OPTIONS)).toBe(join(releases, 'b'));
    // Non-normalised, and through a symlink inside the root: judged by where it leads.
    expect(resolveDeployTarget(`${releases}/a/../b/`, OPTIONS)).toBe(join(releases, 'b'));
    expect(resolveDeployTarget(join(releases, 'latest'), OPTIONS)).toBe(join(releases, 'b'));
  });

  it('accepts any directory when there is no release.root', () => {
    expect(resolveDeployTarget(outside, { ...OPTIONS, root: null })).toBe(outside);
    expect(resolveDeployTarget(join(releases, 'escape'), { ...OPTIONS, root: null })).toBe(outside);
  });

  it('accepts the current release with --force', () => {
    expect(resolveDeployTarget(join(releases, 'a'), { ...OPTIONS, force: true })).toBe(
      join(releases, 'a'),
    );
  });

  it('accepts a release.root given through a symlink', () => {
    expect(
      resolveDeployTarget(join(releases, 'b'), {
        ...OPTIONS,
        root: join(base, 'app-alias', 'releases'),
      }),
    ).toBe(join(releases, 'b'));
  });

  it.each<{ problem: string; target: string; reason: DeployTargetReason; message: string }>([
    {
      problem: 'a missing directory',
      target: join(releases, 'c'),
      reason: 'missing',
      message: `deploy target ${join(releases, 'c')} does not exist`,
    },
    {
      problem: 'a path through a file',
      target: join(releases, 'notes.txt', 'x'),
      reason: 'missing',
      message: `deploy target ${join(releases, 'notes.txt', 'x')} does not exist`,
    },
    {
      problem: 'a dangling symlink',
      target: join(releases, 'dangling'),
      reason: 'missing',
      message: `deploy target ${join(releases, 'dangling')} does not exist`,
    },
    {
      problem: 'a file',
      target: join(releases, 'notes.txt'),
      reason: 'not-a-directory',
      message: `deploy target ${join(releases, 'notes.txt')} is not a directory`,
    },
    {
      problem: 'a directory outside release.root',
      target: outside,
      reason: 'outside-root',
      message: `deploy target ${outside} is outside release.root (${releases})`,
    },
    {
      problem: 'a symlink inside release.root that leads outside it',
      target: join(releases, 'escape'),
      reason: 'outside-root',
      message: `deploy target ${join(releases, 'escape')} (${outside}) is outside release.root (${releases})`,
    },
    {
      problem: 'a path that climbs out of release.root',
      target: `${releases}/../..`,
      reason: 'outside-root',
      message: `deploy target ${releases}/../.. (${base}) is outside release.root (${releases})`,
    },
    {
      problem: 'a sibling whose name starts like release.root',
      target: app,
      reason: 'outside-root',
      message: `deploy target ${app} is outside release.root (${releases})`,
    },
    {
      problem: 'release.root itself',
      target: releases,
      reason: 'outside-root',
      message: `deploy target ${releases} is release.root itself, not a release in it`,
    },
    {
      problem: 'the current release',
      target: join(releases, 'a'),
      reason: 'already-current',
      message: `deploy target ${join(releases, 'a')} is already the current release (use --force to restart every replica on it)`,
    },
    {
      problem: 'the release symlink',
      target: symlink,
      reason: 'is-the-symlink',
      message: `deploy target ${symlink} is the release symlink itself; name the release directory it should point at`,
    },
    {
      problem: 'the release symlink through a symlinked parent',
      target: join(base, 'app-alias', 'current'),
      reason: 'is-the-symlink',
      message: `deploy target ${join(base, 'app-alias', 'current')} is the release symlink itself; name the release directory it should point at`,
    },
  ])('refuses $problem', ({ target, reason, message }) => {
    const error = refusal(target);
    expect(error.code).toBe('ERR_DEPLOY_TARGET');
    expect({ reason: error.reason, target: error.target, message: error.message }).toEqual({
      reason,
      target,
      message,
    });
  });

  it('refuses the release symlink even with --force', () => {
    expect(refusal(symlink, { force: true }).reason).toBe('is-the-symlink');
  });

  it('refuses the current release reached through another name', () => {
    const error = refusal(join(base, 'app-alias', 'releases', 'a'));
    expect(error.reason).toBe('already-current');
  });

  it('refuses every target when release.root does not exist', () => {
    const error = refusal(join(releases, 'b'), { root: join(base, 'missing-root') });
    expect(error.reason).toBe('outside-root');
    expect(error.message).toBe(
      `deploy target ${join(releases, 'b')} cannot be checked against release.root (${join(base, 'missing-root')}): ENOENT: no such file or directory`,
    );
  });

  it('treats a relative target as a bug of the caller', () => {
    expect(() => resolveDeployTarget('releases/b', OPTIONS)).toThrow(TypeError);
  });
});

import { lstatSync, realpathSync, type Stats, statSync } from 'node:fs';
import { isAbsolute, relative, sep } from 'node:path';
import { describeFsError } from '../config/fs-error.js';
import { DeployTargetError } from './deploy-error.js';

export interface DeployTargetOptions {
  /** The release symlink (release.symlink). */
  readonly symlink: string;
  /** release.root, or null when any directory may be deployed. */
  readonly root: string | null;
  /** The realpath of the release being served now. */
  readonly current: string;
  /** `--force`: deploying the current release again restarts every replica on it. */
  readonly force: boolean;
}

/**
 * Checks a `switchyard deploy` target and returns its realpath, the directory replicas will be
 * pinned to; or throws a DeployTargetError saying what is wrong, before anything has changed.
 * Every comparison is between realpaths, so `releases/latest -> /tmp/x` is judged by where it
 * leads, not by its name. `target` must be absolute: the CLI resolves a relative one against
 * its own working directory, which the daemon does not know.
 */
export function resolveDeployTarget(target: string, options: DeployTargetOptions): string {
  if (!isAbsolute(target)) {
    // The control server refuses relative targets; reaching here with one is a bug.
    throw new TypeError(`deploy target ${JSON.stringify(target)} is not an absolute path`);
  }
  // Before resolving: the symlink's realpath is the current release, and "already current"
  // (or, with --force, a restart) would be a confusing answer to a target that is a typo.
  if (isSameEntry(target, options.symlink)) {
    throw new DeployTargetError(
      'is-the-symlink',
      target,
      `deploy target ${target} is the release symlink itself; name the release directory it should point at`,
    );
  }
  const resolved = realpathOrRefuse(target);
  const shown = resolved === target ? target : `${target} (${resolved})`;
  // realpath has just found it; a failing stat means it was removed since: it is not a
  // directory to deploy either way.
  if (!(statOrNull(resolved)?.isDirectory() ?? false)) {
    throw new DeployTargetError(
      'not-a-directory',
      target,
      `deploy target ${shown} is not a directory`,
    );
  }
  if (options.root !== null) checkInsideRoot(target, shown, resolved, options.root);
  if (resolved === options.current && !options.force) {
    throw new DeployTargetError(
      'already-current',
      target,
      `deploy target ${shown} is already the current release (use --force to restart every replica on it)`,
    );
  }
  return resolved;
}

function realpathOrRefuse(target: string): string {
  try {
    return realpathSync(target);
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    // ENOTDIR: a component of the path is a file, so nothing by that name can exist either.
    const message =
      code === 'ENOENT' || code === 'ENOTDIR'
        ? `deploy target ${target} does not exist`
        : `deploy target ${target} cannot be resolved: ${describeFsError(error)}`;
    throw new DeployTargetError('missing', target, message, { cause: error });
  }
}

/** `resolved` must be strictly inside release.root, both as realpaths. */
function checkInsideRoot(target: string, shown: string, resolved: string, root: string): void {
  let realRoot: string;
  try {
    realRoot = realpathSync(root);
  } catch (error) {
    throw new DeployTargetError(
      'outside-root',
      target,
      `deploy target ${shown} cannot be checked against release.root (${root}): ${describeFsError(error)}`,
      { cause: error },
    );
  }
  const path = relative(realRoot, resolved);
  if (path === '') {
    // It holds the releases; it is not one.
    throw new DeployTargetError(
      'outside-root',
      target,
      `deploy target ${shown} is release.root itself, not a release in it`,
    );
  }
  if (path === '..' || path.startsWith(`..${sep}`) || isAbsolute(path)) {
    throw new DeployTargetError(
      'outside-root',
      target,
      `deploy target ${shown} is outside release.root (${root})`,
    );
  }
}

/**
 * Whether two paths name the same directory entry (not what it links to): lstat identity also
 * catches the symlink reached through another path, such as a symlinked parent directory.
 */
function isSameEntry(a: string, b: string): boolean {
  const first = lstatOrNull(a);
  const second = lstatOrNull(b);
  return first !== null && second !== null && first.dev === second.dev && first.ino === second.ino;
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

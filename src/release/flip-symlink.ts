import { randomBytes } from 'node:crypto';
import {
  accessSync,
  closeSync,
  constants,
  fsyncSync,
  openSync,
  realpathSync,
  renameSync,
  symlinkSync,
  unlinkSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describeFsError } from '../config/fs-error.js';
import { ReleaseSymlinkError } from './deploy-error.js';

/**
 * Points `symlink` at `target` atomically. `ln -sfn` unlinks and then creates, so for a moment
 * there is no symlink and the web server answers 404; instead a new link is made beside the
 * old one and renamed over it: rename(2) replaces the old name in one step, so every lookup
 * sees either the old release or the new one. `target` is written as given (switchyard passes
 * the release's realpath). A real directory at `symlink` is never replaced: rename(2) refuses
 * to put a symlink over a directory.
 */
export function flipSymlink(symlink: string, target: string): void {
  const dir = dirname(symlink);
  // Same directory, so the rename cannot cross filesystems; dot-named, so directory listings
  // and globs such as releases/* do not pick it up; unique, so two flips never collide.
  const temp = join(
    dir,
    `.${basename(symlink)}.switchyard-${process.pid}-${randomBytes(6).toString('hex')}`,
  );
  try {
    symlinkSync(target, temp);
  } catch (error) {
    throw new ReleaseSymlinkError(
      symlink,
      `cannot create a symlink in ${dir} to replace ${symlink}: ${describeFsError(error)}`,
      { cause: error },
    );
  }
  try {
    renameSync(temp, symlink);
  } catch (error) {
    removeQuietly(temp);
    throw new ReleaseSymlinkError(
      symlink,
      `cannot point ${symlink} at ${target}: ${describeFsError(error)}`,
      { cause: error },
    );
  }
  syncDirectory(dir);
}

/**
 * Refuses a switch whose symlink could not be flipped at its cut-over (a read-only or immutable
 * directory), before any replica moves. The flip at the cut-over can still fail (the directory
 * changed since); that is reported then.
 */
export function checkSymlinkWritable(symlink: string): void {
  const dir = dirname(symlink);
  try {
    accessSync(dir, constants.W_OK);
  } catch (error) {
    throw new ReleaseSymlinkError(
      symlink,
      `cannot replace ${symlink}: its directory ${dir} is not writable (${describeFsError(error)})`,
      { cause: error },
    );
  }
}

/** The realpath of the release the symlink leads to now, or null when it leads nowhere. */
export function resolvedTargetOrNull(symlink: string): string | null {
  try {
    return realpathSync(symlink);
  } catch {
    return null;
  }
}

/** The realpath of the release the symlink leads to now. */
export function readSymlinkTarget(symlink: string): string {
  try {
    return realpathSync(symlink);
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    const why =
      code === 'ENOENT'
        ? 'does not exist or leads to a missing directory'
        : `cannot be resolved: ${describeFsError(error)}`;
    throw new ReleaseSymlinkError(symlink, `release symlink ${symlink} ${why}`, { cause: error });
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone; a leftover dot-file would be harmless anyway.
  }
}

/**
 * Makes the rename durable: without it, a power cut right after a deploy may bring the old
 * release back on boot. Best effort: the flip itself has already happened.
 */
function syncDirectory(dir: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // A filesystem that cannot fsync a directory still has the new link.
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

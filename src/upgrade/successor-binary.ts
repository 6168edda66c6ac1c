import { accessSync, constants, type Stats, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { UpgradeError } from './start-successor.js';

/**
 * Refuses a `--binary` the daemon should not run as itself: whoever may use the control
 * socket (control.group) names it, and the daemon runs it with its own rights (root, as a
 * rule). Like sudo's checks on what it runs: an executable regular file, owned by root or by
 * the daemon's user, in a directory owned likewise, neither writable by group or others.
 */
export function checkSuccessorBinary(path: string): void {
  const why = binaryProblem(path);
  if (why !== null)
    throw new UpgradeError('ERR_UPGRADE_FAILED', `cannot upgrade to ${path}: ${why}`);
}

function binaryProblem(path: string): string | null {
  let file: Stats;
  let directory: Stats;
  try {
    file = statSync(path);
    directory = statSync(dirname(path));
    accessSync(path, constants.X_OK);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
  }
  if (!file.isFile()) return 'not a regular file';
  const uid = process.getuid?.() ?? 0;
  for (const [what, entry] of [
    ['it', file],
    ['its directory', directory],
  ] as const) {
    if (entry.uid !== 0 && entry.uid !== uid) {
      return `${what} is owned by uid ${entry.uid}, not root or this daemon's user`;
    }
    if ((entry.mode & 0o022) !== 0) return `${what} is writable by group or others`;
  }
  return null;
}

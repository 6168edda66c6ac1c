import { statSync } from 'node:fs';

/**
 * Notices a directory the daemon relies on disappearing: the serving release (`rm -rf` by
 * hand, a deploy tool's cleanup gone wrong: php-fpm's ping runs no PHP, so the replicas stay
 * healthy while every page is a 404), or the runtime directory (replica sockets gone).
 * Checks every `intervalMs` (a stat) and calls `onGone` each time the directory `current()`
 * names vanishes, again at each check until it answers that it dealt with it. Returns a
 * function that stops it.
 */
export function watchDirectoryPresence(
  current: () => string,
  onGone: (directory: string) => boolean,
  intervalMs = 2_000,
): () => void {
  let reported: string | null = null;
  const timer = setInterval(() => {
    const directory = current();
    if (isDirectory(directory)) {
      if (reported === directory) reported = null;
      return;
    }
    if (reported === directory) return;
    // Not dealt with yet (a switch was running): asked again at the next check.
    if (onGone(directory)) reported = directory;
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** A directory now (a symlink to one counts); false for anything else or nothing. */
export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

import { statSync } from 'node:fs';

/**
 * Notices the serving release's directory disappearing (`rm -rf` by hand, a deploy tool's
 * cleanup of old releases gone wrong): the replicas would stay healthy (php-fpm's ping runs
 * no PHP) while every page is a 404. Checks every `intervalMs` (a stat) and calls `onGone`
 * once per release that vanishes. Returns a function that stops it.
 */
export function watchReleasePresence(
  current: () => string,
  onGone: (release: string) => void,
  intervalMs = 2_000,
): () => void {
  let reported: string | null = null;
  const timer = setInterval(() => {
    const release = current();
    if (isDirectory(release)) {
      if (reported === release) reported = null;
      return;
    }
    if (reported === release) return;
    reported = release;
    onGone(release);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

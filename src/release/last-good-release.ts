import type { DeployRecord } from '../control/messages.js';
import { resolveDeployTarget } from './deploy-target.js';

/**
 * The release to fall back to when `broken` (the symlink's) does not start: from the newest
 * switch back, a release that served (a switch's target when it succeeded, and what served
 * before any switch), still a directory, and one `deploy` would accept (inside release.root).
 * Null when the history knows none.
 */
export function lastGoodRelease(
  entries: readonly DeployRecord[],
  broken: string | null,
  options: { readonly symlink: string; readonly root: string | null },
): string | null {
  // Releases a newer switch found not to start: an older success does not vouch for them.
  const failedSince = new Set<string>();
  for (let index = entries.length - 1; index >= 0; index -= 1) {
    const entry = entries[index] as DeployRecord;
    const served = !entry.ok
      ? [entry.previous]
      : // A recovery's previous is the release that did not start.
        entry.trigger === 'recovery'
        ? [entry.release]
        : [entry.release, entry.previous];
    for (const candidate of served) {
      if (candidate === broken || failedSince.has(candidate)) continue;
      try {
        return resolveDeployTarget(candidate, {
          ...options,
          // Not the broken one: resolveDeployTarget refuses "already current" by realpath.
          current: broken ?? '',
          force: false,
        });
      } catch {
        // Removed since, or outside release.root now: an older one may still do.
      }
    }
    if (!entry.ok) failedSince.add(entry.release);
    if (entry.trigger === 'recovery') failedSince.add(entry.previous);
  }
  return null;
}

/**
 * Whether the history says `release` has served: a switch to it succeeded, or it was serving
 * when a switch began. A release that served once and does not start now is more likely to
 * meet a passing trouble (a database still booting) than to be broken: the daemon does not
 * move the site back to an older release for it.
 */
export function hasServed(entries: readonly DeployRecord[], release: string): boolean {
  return entries.some(
    (entry) =>
      (entry.ok && entry.release === release) ||
      (entry.previous === release && entry.trigger !== 'recovery'),
  );
}

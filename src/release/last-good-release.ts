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
  for (let index = entries.length - 1; index >= 0; index -= 1) {
    const entry = entries[index] as DeployRecord;
    const served = entry.ok ? [entry.release, entry.previous] : [entry.previous];
    for (const candidate of served) {
      if (candidate === broken) continue;
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
  }
  return null;
}

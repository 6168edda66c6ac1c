import type { Logger } from 'pino';
import type { Supervisor } from '../supervisor/supervisor.js';
import { flipSymlink, resolvedTargetOrNull } from './flip-symlink.js';

export interface SymlinkAtCutOverOptions {
  readonly supervisor: Supervisor;
  readonly symlink: string;
  /** The switch's target now (a newer flip by a deploy tool can move it). */
  readonly target: () => string;
  /** The symlink's realpath when the switch began (null: it led nowhere). */
  readonly before: string | null;
  /**
   * False once the daemon is stopping: a switch cut short is not done, and the next start must
   * find the symlink on the release that served before it (the supervisor may still toggle
   * while in-flight requests finish).
   */
  readonly active: () => boolean;
  readonly logger: Logger;
  /** The symlink was moved to `release`. */
  readonly onMoved: (release: string) => void;
  /** The flip failed: the new release serves, but the symlink still names the old one. */
  readonly onFailure: (reason: string) => void;
}

/**
 * Moves the release symlink in the same tick as the balancer's toggle to the switch's target,
 * so a web server that serves static files from the symlink switches them with the PHP: not
 * before the new replicas are healthy and warm (a page of the old release with the new one's
 * stylesheet), not after. The supervisor calls toggle listeners synchronously from the toggle;
 * subscribe this before anything that reports the cut-over, so the symlink has moved when the
 * CLI prints it. Leaves the symlink alone when it already names the target, or when something
 * else moved it since the switch began (a deploy tool's flip the watcher has yet to report:
 * the newer flip wins). Returns the unsubscribe function.
 */
export function moveSymlinkAtCutOver(options: SymlinkAtCutOverOptions): () => void {
  const { supervisor, symlink, logger } = options;
  return supervisor.onToggle((event) => {
    if (event.release !== options.target() || !options.active()) return;
    const now = resolvedTargetOrNull(symlink);
    if (now === event.release) return;
    if (now !== null && now !== options.before) {
      logger.warn(
        { symlink, release: event.release, now },
        'the release symlink was moved by someone else during the switch: left as it is',
      );
      return;
    }
    try {
      flipSymlink(symlink, event.release);
    } catch (error) {
      options.onFailure((error as Error).message);
      return;
    }
    options.onMoved(event.release);
  });
}

import { realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { type FSWatcher, watch } from 'chokidar';
import type { Logger } from 'pino';
import { describeFsError } from '../config/fs-error.js';
import { ReleaseSymlinkError } from './deploy-error.js';

export interface SymlinkWatcherOptions {
  readonly logger: Logger;
  /**
   * Quiet time after the last event before the link is resolved: a deploy tool that flips
   * twice in a row is followed once, to where it ended. Default 100 ms; keep it at 50 ms or
   * more, the window in which chokidar drops repeated change events for one path.
   */
  readonly debounceMs?: number;
  /**
   * Interval of a plain realpath check beside the watch, for flips the watch cannot report:
   * chokidar only reports a symlink whose realpath differs from the last one it saw, so a link
   * that dangled for a moment and came back to that target is silent; an inotify queue can
   * overflow. Default 2000 ms; 0 turns it off.
   */
  readonly pollMs?: number;
}

const DEFAULT_DEBOUNCE_MS = 100;
const DEFAULT_POLL_MS = 2_000;

/**
 * Follows the release symlink when something other than switchyard flips it (`ln -sfn`,
 * Capistrano, Deployer), reporting each new realpath once. The link's directory is watched, not
 * the link: tools replace the link with rename(2), and a watch on the old inode sees nothing
 * after that. Symlinks are not followed, so the watch never crawls into a release.
 */
export class SymlinkWatcher {
  readonly #symlink: string;
  readonly #onChange: (resolved: string) => void;
  readonly #logger: Logger;
  readonly #debounceMs: number;
  #watcher: FSWatcher | null = null;
  #debounce: NodeJS.Timeout | null = null;
  #poll: NodeJS.Timeout | null = null;
  /** The last realpath reported, or seen at start; null while it has never resolved. */
  #last: string | null;
  /** Why the link did not resolve at the last check, so a lasting problem is logged once. */
  #problem: string | null = null;
  #closed = false;

  private constructor(
    symlink: string,
    onChange: (resolved: string) => void,
    options: SymlinkWatcherOptions,
  ) {
    this.#symlink = symlink;
    this.#onChange = onChange;
    this.#logger = options.logger;
    this.#debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    this.#last = this.#resolve();
  }

  /**
   * Starts watching; resolves once the watch is in place, so a flip after that is reported.
   * `onChange` gets the new realpath, never the value the link had at start.
   */
  static async start(
    symlink: string,
    onChange: (resolved: string) => void,
    options: SymlinkWatcherOptions,
  ): Promise<SymlinkWatcher> {
    const watcher = new SymlinkWatcher(resolve(symlink), onChange, options);
    await watcher.#watch();
    const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    if (pollMs > 0) watcher.#startPolling(pollMs);
    return watcher;
  }

  /** Stops watching; no onChange call happens after this resolves. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#debounce !== null) clearTimeout(this.#debounce);
    if (this.#poll !== null) clearInterval(this.#poll);
    await this.#watcher?.close();
  }

  async #watch(): Promise<void> {
    // The directory's realpath: chokidar does not descend into a watched path that is itself
    // a symlink when followSymlinks is off (/srv/app -> /data/app).
    let dir: string;
    try {
      dir = realpathSync(dirname(this.#symlink));
    } catch (error) {
      throw new ReleaseSymlinkError(
        this.#symlink,
        `cannot watch the release symlink ${this.#symlink}: its directory: ${describeFsError(error)}`,
        { cause: error },
      );
    }
    const link = join(dir, basename(this.#symlink));
    const watcher = watch(dir, {
      depth: 0,
      ignoreInitial: true,
      followSymlinks: false,
      // Only the link matters; other entries (the releases directory, often) are not even
      // stat'ed.
      ignored: (path) => path !== dir && path !== link,
    });
    this.#watcher = watcher;
    // 'change' for a rename-over or `ln -sfn`; 'unlink' then 'add' for rm and ln.
    watcher.on('all', (_event, path) => {
      if (path === link) this.#schedule();
    });
    watcher.on('error', (error) => {
      this.#logger.warn(
        { symlink: this.#symlink, err: error },
        'watching the release symlink failed; only the periodic check (pollMs) finds its flips now',
      );
    });
    await new Promise<void>((done) => watcher.once('ready', done));
    // A flip between the first realpath and the watch being ready would go unseen.
    this.#schedule();
  }

  #startPolling(pollMs: number): void {
    this.#poll = setInterval(() => {
      // A check already pending will read the link anyway; restarting it from here would
      // postpone it forever when pollMs < debounceMs.
      if (this.#debounce !== null) return;
      // Only a difference starts the debounced check, so a poll in the middle of a burst of
      // flips does not report the burst's first step.
      const resolved = this.#resolve();
      if (resolved !== null && resolved !== this.#last) this.#schedule();
    }, pollMs);
    // A daemon stops by closing its watcher; a forgotten one must not keep a process alive.
    this.#poll.unref();
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#debounce !== null) clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => {
      this.#debounce = null;
      this.#check();
    }, this.#debounceMs);
  }

  #check(): void {
    if (this.#closed) return;
    const resolved = this.#resolve();
    if (resolved === null || resolved === this.#last) return;
    this.#last = resolved;
    try {
      this.#onChange(resolved);
    } catch (error) {
      this.#logger.error(
        { symlink: this.#symlink, release: resolved, err: error },
        'following the release symlink failed',
      );
    }
  }

  /** The link's realpath, or null (logged once per problem) when it is missing or dangling. */
  #resolve(): string | null {
    try {
      const resolved = realpathSync(this.#symlink);
      if (this.#problem !== null) {
        this.#logger.info(
          { symlink: this.#symlink, release: resolved },
          'the release symlink resolves again',
        );
        this.#problem = null;
      }
      return resolved;
    } catch (error) {
      const problem = describeFsError(error);
      if (problem !== this.#problem) {
        this.#logger.warn(
          { symlink: this.#symlink, err: error },
          `the release symlink ${this.#symlink} does not resolve (${problem}): ignored until it points at a release again`,
        );
        this.#problem = problem;
      }
      return null;
    }
  }
}

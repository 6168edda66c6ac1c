import { type FSWatcher, watch } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import { RateLimitedWarning } from '../../rate-limited-warning.js';
import { SlowlogEntries, type SlowlogEntry } from './slowlog-entries.js';

export interface SlowlogForwarderOptions {
  /** The replica's slow log (phpFpmFiles().slowlog). */
  readonly file: string;
  /** Lines go out with `{ replica }`. */
  readonly logger: Logger;
  readonly replica: string;
  /** An entry's text beyond this is cut; 8 KiB unless told (20 frames of a deep stack). */
  readonly maxEntryBytes?: number;
  /** Entries logged per second at most; the rest are counted in one warning. 10 unless told. */
  readonly maxEntriesPerSecond?: number;
}

/** Read at most this much per wake-up; more waiting than MAX_BACKLOG_BYTES is skipped. */
const READ_BYTES = 64 * 1024;
const MAX_BACKLOG_BYTES = 1024 * 1024;
/** php-fpm writes an entry in several writes: the last one is complete once it goes quiet. */
const QUIET_MS = 100;

/**
 * Follows a php-fpm replica's slow log and logs each entry as one warning line naming the
 * replica, the child's pid, the script and its backtrace. Woken by fs.watch on the file's
 * directory (the file may not exist yet, and is removed with the replica's other files), never
 * by a timer; bounded per entry, per second, and in what it reads of a file grown too fast.
 */
export class SlowlogForwarder {
  readonly #options: SlowlogForwarderOptions;
  readonly #log: Logger;
  readonly #entries: SlowlogEntries;
  readonly #dropped: RateLimitedWarning;
  readonly #watcher: FSWatcher | null;
  #offset = 0;
  /** A read under way, and whether another was asked for meanwhile. */
  #reading: Promise<void> | null = null;
  #again = false;
  #quiet: NodeJS.Timeout | null = null;
  #closed = false;
  /** The rate bound: entries logged in the current second. */
  #windowStart = 0;
  #inWindow = 0;

  constructor(options: SlowlogForwarderOptions) {
    this.#options = options;
    this.#log = options.logger.child({ replica: options.replica });
    this.#entries = new SlowlogEntries(options.maxEntryBytes ?? 8 * 1024);
    this.#dropped = new RateLimitedWarning(
      this.#log,
      'SLOWLOG_DROPPED',
      'php-fpm slow log entries not logged: more than the bound per second, or the file grew too fast',
    );
    const name = basename(options.file);
    let watcher: FSWatcher | null = null;
    try {
      watcher = watch(dirname(options.file), { persistent: false }, (_event, changed) => {
        if (changed === null || changed === name) this.#wake();
      });
      watcher.on('error', () => watcher?.close());
    } catch (error) {
      this.#log.warn(
        { code: 'SLOWLOG_UNWATCHED', error: (error as Error).message },
        'cannot follow the php-fpm slow log; its "executing too slow" lines still come through',
      );
    }
    this.#watcher = watcher;
    // What was written before the watch began.
    this.#wake();
  }

  /** Reads and logs what is left, then stops following the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#wake();
    await this.#reading;
    this.#closed = true;
    this.#watcher?.close();
    if (this.#quiet !== null) clearTimeout(this.#quiet);
    this.#emit(this.#entries.flush());
    this.#dropped.close();
  }

  #wake(): void {
    if (this.#closed) return;
    if (this.#reading !== null) {
      this.#again = true;
      return;
    }
    this.#reading = this.#readLoop().finally(() => {
      this.#reading = null;
    });
  }

  async #readLoop(): Promise<void> {
    do {
      this.#again = false;
      await this.#readOnce();
    } while (this.#again && !this.#closed);
  }

  async #readOnce(): Promise<void> {
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(this.#options.file, 'r');
    } catch {
      return; // not there yet, or removed: the next event says more
    }
    try {
      const { size } = await handle.stat();
      if (size < this.#offset) this.#offset = 0; // truncated or a new file
      if (size - this.#offset > MAX_BACKLOG_BYTES) {
        this.#dropped.note({ skippedBytes: size - this.#offset });
        this.#offset = size;
        return;
      }
      const buffer = Buffer.alloc(READ_BYTES);
      while (this.#offset < size) {
        const { bytesRead } = await handle.read(buffer, 0, READ_BYTES, this.#offset);
        if (bytesRead === 0) break;
        this.#offset += bytesRead;
        for (const entry of this.#entries.push(buffer.toString('utf8', 0, bytesRead))) {
          this.#emit(entry);
        }
      }
    } finally {
      await handle.close();
    }
    if (this.#quiet !== null) clearTimeout(this.#quiet);
    this.#quiet = setTimeout(() => {
      this.#quiet = null;
      this.#emit(this.#entries.flush());
    }, QUIET_MS);
    this.#quiet.unref();
  }

  #emit(entry: SlowlogEntry | null): void {
    if (entry === null) return;
    const now = Date.now();
    if (now - this.#windowStart >= 1000) {
      this.#windowStart = now;
      this.#inWindow = 0;
    }
    this.#inWindow += 1;
    if (this.#inWindow > (this.#options.maxEntriesPerSecond ?? 10)) {
      this.#dropped.note();
      return;
    }
    this.#log.warn(
      {
        code: 'SLOW_REQUEST',
        workerPid: entry.pid,
        script: entry.script,
        trace: entry.trace.join('\n'),
        ...(entry.truncated ? { truncated: true } : {}),
      },
      `php-fpm slow log: ${entry.script ?? 'a request'} in pid ${entry.pid ?? '?'} still running`,
    );
  }
}

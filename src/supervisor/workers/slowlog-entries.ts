/** One entry of php-fpm's slow log: a child that ran past request_slowlog_timeout. */
export interface SlowlogEntry {
  /** The child's pid, from the header line; null if the header did not parse. */
  readonly pid: number | null;
  /** `script_filename = …`, or null. */
  readonly script: string | null;
  /** The PHP backtrace, innermost call first (`[0x…] usleep() /srv/app/a.php:3`). */
  readonly trace: readonly string[];
  /** True when the entry was longer than the bound and cut. */
  readonly truncated: boolean;
}

// `[02-Dec-2026 08:07:30]  [pool replica-1] pid 22250` (fpm_php_trace in php-fpm 8.2).
const HEADER = /^\[[^\]]+\]\s+\[pool [^\]]*\] pid (\d+)$/;
const SCRIPT = /^script_filename = (.*)$/;

/**
 * Splits the slow log's text into entries as it arrives. php-fpm starts each entry with a
 * blank line and a header, so an entry is known to be complete only when the next header
 * comes, or when the writing stops (flush()). Bounded: an entry keeps at most `maxEntryBytes`
 * of text; the rest of it is skipped.
 */
export class SlowlogEntries {
  readonly #maxEntryBytes: number;
  /** A line not ended yet (bounded like an entry). */
  #partial = '';
  #lines: string[] = [];
  #bytes = 0;
  #truncated = false;

  constructor(maxEntryBytes: number) {
    this.#maxEntryBytes = maxEntryBytes;
  }

  /** Takes more of the file; returns the entries a new header has completed. */
  push(text: string): SlowlogEntry[] {
    const done: SlowlogEntry[] = [];
    const pieces = (this.#partial + text).split('\n');
    this.#partial = pieces.pop() ?? '';
    if (this.#partial.length > this.#maxEntryBytes) {
      this.#partial = this.#partial.slice(0, this.#maxEntryBytes);
      this.#truncated = true;
    }
    for (const line of pieces) {
      if (HEADER.test(line)) {
        const entry = this.#take();
        if (entry !== null) done.push(entry);
      }
      this.#add(line);
    }
    return done;
  }

  /** The entry being collected (and a line not ended), when the writing has stopped. */
  flush(): SlowlogEntry | null {
    if (this.#partial !== '') this.#add(this.#partial);
    this.#partial = '';
    return this.#take();
  }

  #add(line: string): void {
    if (line.trim() === '') return;
    if (this.#bytes + line.length > this.#maxEntryBytes) {
      this.#truncated = true;
      return;
    }
    this.#lines.push(line);
    this.#bytes += line.length + 1;
  }

  #take(): SlowlogEntry | null {
    const lines = this.#lines;
    const truncated = this.#truncated;
    this.#lines = [];
    this.#bytes = 0;
    this.#truncated = false;
    if (lines.length === 0) return null;
    const header = HEADER.exec(lines[0] ?? '');
    const rest = header === null ? lines : lines.slice(1);
    const script = SCRIPT.exec(rest[0] ?? '');
    return {
      pid: header === null ? null : Number(header[1]),
      script: script === null ? null : (script[1] ?? null),
      trace: script === null ? rest : rest.slice(1),
      truncated,
    };
  }
}

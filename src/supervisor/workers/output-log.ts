import type { Readable } from 'node:stream';
import type { Logger } from 'pino';

/** Lines kept for outputTail() and error reports. */
export const OUTPUT_TAIL_LINES = 40;
/** A longer line (a runaway dump without newlines) is cut into pieces of this many characters. */
const MAX_LINE_CHARS = 8 * 1024;

/**
 * php-fpm's own `[date] ERROR: …` / `WARNING: …` / `ALERT: …` lines and PHP's `PHP Fatal
 * error: …` / `PHP Warning: …` lines (from children, through catch_workers_output) go out at
 * warn; everything else at info.
 */
const WARN_LINE = /\b(?:EMERGENCY|ALERT|CRITICAL|ERROR|WARNING)\b|\bPHP (?:Fatal|Parse) error\b/;

interface TailEntry {
  readonly pid: number;
  readonly line: string;
}

/**
 * A worker's stdout and stderr: read line by line as they come (a pipe that is never read
 * fills up and blocks the worker in write(2)), each line logged with `{ replica, workerPid }`, and
 * the last lines kept in a ring buffer for error reports.
 */
export class OutputLog {
  readonly #logger: Logger;
  readonly #replica: string;
  readonly #maxLines: number;
  readonly #tail: TailEntry[] = [];
  readonly #pids = new Set<number>();
  readonly #open = new Set<Promise<void>>();

  constructor(options: { logger: Logger; replica: string; maxLines?: number }) {
    this.#logger = options.logger;
    this.#replica = options.replica;
    this.#maxLines = options.maxLines ?? OUTPUT_TAIL_LINES;
  }

  /** Reads `stream` to its end. Lines are attributed to `pid`. */
  attach(stream: Readable, pid: number): void {
    this.#pids.add(pid);
    // `pid` is the daemon's own in every log line already.
    const log = this.#logger.child({ replica: this.#replica, workerPid: pid });
    let partial = '';
    const emit = (line: string) => {
      const text = line.endsWith('\r') ? line.slice(0, -1) : line;
      if (WARN_LINE.test(text)) log.warn(text);
      else log.info(text);
      this.#tail.push({ pid, line: text });
      if (this.#tail.length > this.#maxLines) this.#tail.shift();
    };
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      partial += chunk;
      let newline = partial.indexOf('\n');
      while (newline !== -1) {
        emit(partial.slice(0, newline));
        partial = partial.slice(newline + 1);
        newline = partial.indexOf('\n');
      }
      while (partial.length > MAX_LINE_CHARS) {
        emit(partial.slice(0, MAX_LINE_CHARS));
        partial = partial.slice(MAX_LINE_CHARS);
      }
    });
    const closed = new Promise<void>((resolve) => {
      const finish = () => {
        if (partial !== '') emit(partial);
        partial = '';
        resolve();
      };
      stream.once('end', finish);
      stream.once('close', finish);
      // A read error (EIO) ends the stream as far as we are concerned; it must not crash.
      stream.once('error', finish);
    });
    this.#open.add(closed);
    void closed.then(() => this.#open.delete(closed));
  }

  /**
   * The last lines, oldest first. When several processes write here (a command worker), each
   * line says which pid wrote it.
   */
  tail(): string {
    const prefixed = this.#pids.size > 1;
    return this.#tail
      .map((entry) => (prefixed ? `[pid ${entry.pid}] ` : '') + entry.line)
      .join('\n');
  }

  /**
   * Resolves when every attached stream has ended (the process and anything that inherited its
   * stdout/stderr are gone), or after `timeoutMs`: a php-fpm child orphaned with the pipe open
   * must not hold up an error report.
   */
  async drained(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.#open),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }
}

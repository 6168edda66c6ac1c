import {
  type OutgoingHttpHeaders,
  type ServerResponse,
  STATUS_CODES,
  validateHeaderName,
  validateHeaderValue,
} from 'node:http';
import type { Logger } from 'pino';
import {
  type CgiResponseHead,
  MAX_CGI_HEAD_BYTES,
  parseCgiResponseHead,
} from '../protocol/cgi-response.js';
import { generatedResponse } from '../request/generated-response.js';
import type { ResponseSink } from '../request/response-sink.js';

/** Connection-level headers of the application's answer; node writes its own. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);
const VALID_REASON = /^[\t\x20-\x7e\x80-\xff]*$/;

export interface HttpResponseSinkOptions {
  readonly res: ServerResponse;
  readonly isHead: boolean;
  /** For log lines. */
  readonly uri: string;
  readonly logger: Logger;
  /** True when the front is shutting down: the connection is not kept alive. */
  readonly closing: () => boolean;
  /** Stops the exchange when its output cannot become an HTTP response. */
  readonly giveUp: (why: string) => void;
}

/**
 * Turns the application's CGI output into an HTTP response: the head is held until it is
 * complete, then written with node's framing (Content-Length as sent, else chunked); the body
 * streams with back-pressure. A response that cannot be completed is cut off, never ended.
 */
export class HttpResponseSink implements ResponseSink {
  readonly #res: ServerResponse;
  readonly #isHead: boolean;
  readonly #uri: string;
  readonly #logger: Logger;
  readonly #closing: () => boolean;
  readonly #giveUp: (why: string) => void;
  /** STDOUT received before the end of the CGI head; null once the head is written. */
  #pending: Buffer | null = Buffer.alloc(0);
  #hasBody = true;
  #declaredLength: number | null = null;
  #written = 0;
  #overflowed = false;
  /** Ended or destroyed: nothing more may be written. */
  #closed = false;

  constructor(options: HttpResponseSinkOptions) {
    this.#res = options.res;
    this.#isHead = options.isHead;
    this.#uri = options.uri;
    this.#logger = options.logger;
    this.#closing = options.closing;
    this.#giveUp = options.giveUp;
  }

  stdout(content: Buffer): boolean {
    if (this.#closed || this.#res.destroyed) return true;
    if (this.#pending === null) return this.#writeBody(content);
    const bytes = this.#pending.length === 0 ? content : Buffer.concat([this.#pending, content]);
    const head = parseCgiResponseHead(bytes);
    if (head === null) {
      if (bytes.length > MAX_CGI_HEAD_BYTES) {
        this.#refuse(`no end of the response head in ${MAX_CGI_HEAD_BYTES} bytes`);
      } else {
        this.#pending = Buffer.from(bytes); // a copy: content may be a view of a socket read
      }
      return true;
    }
    this.#pending = null;
    const problem = this.#writeHead(head);
    if (problem !== null) {
      this.#refuse(problem);
      return true;
    }
    return this.#writeBody(bytes.subarray(head.bodyOffset));
  }

  stderr(content: Buffer): boolean {
    this.#logger.warn(
      { uri: this.#uri, stderr: content.toString('utf8').trimEnd() },
      'the application wrote to stderr',
    );
    return true;
  }

  end(_appStatus: number): void {
    if (this.#closed) return;
    if (this.#pending !== null) {
      this.#badGateway('the application ended without a response head');
      return;
    }
    this.#closed = true;
    if (this.#hasBody && this.#declaredLength !== null && this.#written < this.#declaredLength) {
      this.#logger.warn(
        { uri: this.#uri, declared: this.#declaredLength, sent: this.#written },
        'the application sent less than its Content-Length: cutting the response off',
      );
      this.#res.destroy();
      return;
    }
    this.#res.end();
  }

  abort(): void {
    if (this.#closed) return;
    // Nothing reached the client yet: a clear 502 beats a reset.
    if (this.#pending !== null) {
      this.#badGateway('the application failed before its response head');
      return;
    }
    this.#closed = true;
    this.#res.destroy();
  }

  onDrain(listener: () => void): void {
    this.#res.once('drain', listener);
  }

  /** Returns why the head cannot be sent, or null once it is written. */
  #writeHead(head: CgiResponseHead): string | null {
    if (head.status < 200) return `the application answered status ${head.status}`;
    const headers: OutgoingHttpHeaders = {};
    const casing = new Map<string, string>();
    const dropped = new Set(HOP_BY_HOP);
    for (const [name, value] of head.headers) {
      if (name.toLowerCase() !== 'connection') continue;
      for (const token of value.split(',')) dropped.add(token.trim().toLowerCase());
    }
    for (const [name, value] of head.headers) {
      const lower = name.toLowerCase();
      if (dropped.has(lower)) continue;
      try {
        validateHeaderName(name);
        validateHeaderValue(name, value);
      } catch {
        return `the application sent an invalid header ${JSON.stringify(name)}`;
      }
      let key = casing.get(lower);
      if (key === undefined) {
        key = name;
        casing.set(lower, name);
      }
      const previous = headers[key];
      // Repeats stay separate lines (Set-Cookie must never be joined).
      if (previous === undefined) headers[key] = value;
      else headers[key] = [...(Array.isArray(previous) ? previous : [String(previous)]), value];
    }
    const lengthKey = casing.get('content-length');
    if (lengthKey !== undefined) {
      const values = [headers[lengthKey]].flat().map(String);
      const first = values[0] ?? '';
      if (!/^\d{1,15}$/.test(first) || values.some((v) => v !== first)) {
        return `the application sent an invalid Content-Length ${JSON.stringify(values.join(', '))}`;
      }
      headers[lengthKey] = first;
      this.#declaredLength = Number(first);
    }
    if (this.#closing()) headers.Connection = 'close';
    this.#hasBody = !this.#isHead && head.status !== 204 && head.status !== 304;
    const reason = VALID_REASON.test(head.reason) ? head.reason : (STATUS_CODES[head.status] ?? '');
    this.#res.writeHead(head.status, reason, headers);
    return null;
  }

  #writeBody(chunk: Buffer): boolean {
    if (!this.#hasBody || chunk.length === 0) return true;
    let piece = chunk;
    if (this.#declaredLength !== null) {
      const room = this.#declaredLength - this.#written;
      if (piece.length > room) {
        if (!this.#overflowed) {
          this.#overflowed = true;
          this.#logger.warn(
            { uri: this.#uri, declared: this.#declaredLength },
            'the application sent more than its Content-Length: dropping the excess',
          );
        }
        piece = piece.subarray(0, room);
        if (piece.length === 0) return true;
      }
    }
    this.#written += piece.length;
    return this.#res.write(piece);
  }

  /** The application's output cannot become a response: 502, and the exchange is stopped. */
  #refuse(why: string): void {
    this.#badGateway(why);
    this.#giveUp(`unusable answer from the application: ${why}`);
  }

  /** Answers 502 while the head is not written yet. */
  #badGateway(why: string): void {
    this.#logger.warn({ uri: this.#uri, why }, 'unusable answer from the application: 502');
    this.#pending = null;
    this.#closed = true;
    if (this.#res.destroyed) return;
    const bytes = generatedResponse(502, why);
    const head = parseCgiResponseHead(bytes) as CgiResponseHead;
    this.#declaredLength = null;
    this.#writeHead(head);
    this.#writeBody(bytes.subarray(head.bodyOffset));
    this.#res.end();
  }
}

import {
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
  STATUS_CODES,
  validateHeaderName,
  validateHeaderValue,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ListenAddress } from '../config/address.js';
import { formatAddress } from '../config/address.js';
import {
  type CgiSite,
  cgiParamsFor,
  HttpRequestError,
  headerPairs,
} from '../protocol/cgi-params.js';
import {
  type CgiResponseHead,
  MAX_CGI_HEAD_BYTES,
  parseCgiResponseHead,
} from '../protocol/cgi-response.js';
import { clientWarnings } from './client-warnings.js';
import { ConnectionTable, type TableEntry } from './connection-table.js';
import { type Dispatcher, Exchange, type ExchangeOutcome } from './exchange.js';
import { generatedResponse } from './generated-response.js';
import { ListenError } from './listener.js';
import { isRefused, refuseConnection } from './refuse-http-connection.js';
import { RequestBody } from './request-body.js';
import { PairParams } from './request-params.js';
import type { ResponseSink } from './response-sink.js';

export interface HttpFrontendLimits {
  /**
   * Connections kept open at once: at the limit the idlest makes room; with every one busy, a
   * newcomer is answered 503 and closed.
   */
  readonly maxConnections: number;
  /** A connection with no request in progress is closed after this long without one. */
  readonly clientIdleTimeoutMs: number;
  readonly retryBodyBytes: number;
  readonly requestTimeoutMs: number;
  readonly maxAttempts: number;
}

export interface HttpFrontendContext {
  readonly dispatcher: Dispatcher;
  readonly limits: HttpFrontendLimits;
  readonly logger: Logger;
  readonly site: CgiSite;
  readonly onOutcome?: (exchange: Exchange, outcome: ExchangeOutcome) => void;
}

/** A STDIN record holds 65535 bytes. */
const MAX_STDIN_CHUNK = 0xffff;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** A client gets this long to send its request head (slowloris). */
const HEADERS_TIMEOUT_MS = 20_000;
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

/**
 * The optional HTTP/1.1 front (`listen.http`): each request becomes CGI params (nginx's
 * fastcgi_params with a front controller) and an Exchange through the same balancer as the
 * FastCGI front, so curl and plain HTTP load generators reach the replicas directly.
 */
/** What the front's requests share with it. */
interface FrontState {
  /** Exchanges admitted and not yet done. */
  active: number;
  /** Shutting down: responses close their connection instead of keeping it alive. */
  closing: boolean;
}

/** One HTTP client connection as the connection table sees it. */
class HttpConnection implements TableEntry {
  readonly #socket: Socket;
  requests = 0;
  lastActiveAt = Date.now();

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  get busy(): boolean {
    return this.requests > 0;
  }

  letGo(): void {
    if (this.requests === 0) this.#socket.destroy();
  }
}

export class HttpFrontend {
  readonly #server: Server;
  readonly #sockets: ConnectionTable<Socket, HttpConnection>;
  readonly #state: FrontState;

  private constructor(
    server: Server,
    sockets: ConnectionTable<Socket, HttpConnection>,
    state: FrontState,
  ) {
    this.#server = server;
    this.#sockets = sockets;
    this.#state = state;
  }

  static async start(address: ListenAddress, context: HttpFrontendContext): Promise<HttpFrontend> {
    if (address.kind !== 'tcp') {
      throw new ListenError(`the HTTP front needs a TCP host:port, not ${formatAddress(address)}`);
    }
    const state: FrontState = { active: 0, closing: false };
    const server = createServer(
      {
        keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
        headersTimeout: HEADERS_TIMEOUT_MS,
        // The exchange answers 504 at requestTimeoutMs; node's bound on receiving the request
        // is only a backstop behind it.
        requestTimeout: Math.max(context.limits.requestTimeoutMs + 5_000, HEADERS_TIMEOUT_MS),
        noDelay: true,
      },
      (req, res) => serve(req, res, context, state),
    );
    const sockets = new ConnectionTable<Socket, HttpConnection>(
      context.limits.maxConnections,
      context.limits.clientIdleTimeoutMs,
    );
    const warnings = clientWarnings(context.logger, 'HTTP');
    /** Refused connections still taking their 503: they hold descriptors too. */
    let refusing = 0;
    server.on('connection', (socket: Socket) => {
      const limit = context.limits.maxConnections;
      const { admitted, madeRoom } = sockets.makeRoom();
      if (madeRoom) warnings.tooManyConnections.note({ limit, made_room: true });
      if (!admitted) {
        warnings.tooManyConnections.note({ limit, made_room: false });
        // A flood of them is cut at once: a 503 each would hold a descriptor each.
        if (refusing >= limit) {
          socket.destroy();
          return;
        }
        refusing += 1;
        socket.once('close', () => {
          refusing -= 1;
        });
        refuseConnection(socket);
        return;
      }
      sockets.add(socket, new HttpConnection(socket));
      socket.once('close', () => sockets.delete(socket));
    });
    // Which connections have a request in progress, and since when each was last used.
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const connection = sockets.get(req.socket);
      if (connection === undefined) return;
      connection.requests += 1;
      connection.lastActiveAt = Date.now();
      res.once('close', () => {
        connection.requests -= 1;
        connection.lastActiveAt = Date.now();
      });
    });
    server.once('close', () => {
      warnings.close();
      sockets.close();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(address.port, address.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // An accept failure (EMFILE) is emitted here; unhandled, it would end the daemon.
    server.on('error', (error: NodeJS.ErrnoException) =>
      warnings.acceptFailed.note({ err: error.code ?? error.message }),
    );
    return new HttpFrontend(server, sockets, state);
  }

  /** The bound port (useful when listening on port 0). */
  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  get connections(): number {
    return this.#sockets.size;
  }

  /** Requests admitted and not yet answered. */
  get activeRequests(): number {
    return this.#state.active;
  }

  /**
   * Stops accepting; idle kept-alive connections close now, busy ones after their response
   * (which carries `Connection: close` when its head is still to be written).
   */
  shutdown(): void {
    this.#state.closing = true;
    this.stopAccepting();
  }

  /** Stops accepting connections and closes idle kept-alive ones; busy ones go on. */
  stopAccepting(): void {
    this.#server.close();
  }

  /** Destroys every client connection at once (a second stop signal, tests). */
  destroyAll(): void {
    for (const socket of this.#sockets.keys()) socket.destroy();
  }
}

function serve(
  req: IncomingMessage,
  res: ServerResponse,
  context: HttpFrontendContext,
  state: FrontState,
): void {
  // A refused connection's request is parsed (its bytes must be read for the 503 to arrive)
  // but goes no further.
  if (isRefused(req.socket)) return;
  let exchange: Exchange | null = null;
  const sink = new HttpResponseSink({
    res,
    isHead: req.method === 'HEAD',
    uri: req.url ?? '/',
    logger: context.logger,
    closing: () => state.closing,
    giveUp: (why) => exchange?.abort(why),
  });
  if (
    req.headers['transfer-encoding'] === undefined ||
    req.headers['content-length'] !== undefined
  ) {
    exchange = start(req, res, sink, context, state, null);
    return;
  }
  // A chunked body has no length to send as CONTENT_LENGTH, and PHP reads exactly that many
  // bytes: read it whole first, as nginx does, within the retry buffer's bound.
  const limit = context.limits.retryBodyBytes;
  const chunks: Buffer[] = [];
  let size = 0;
  let refusedBody = false;
  req.on('data', (chunk: Buffer) => {
    if (refusedBody) return;
    size += chunk.length;
    if (size <= limit) {
      chunks.push(chunk);
      return;
    }
    // The rest is read and dropped (node's requestTimeout bounds it), so the client sees the
    // 413 rather than a reset, and the connection stays usable.
    refusedBody = true;
    sink.stdout(
      generatedResponse(413, `a body without Content-Length is limited to ${limit} bytes`),
    );
    sink.end(0);
  });
  req.on('end', () => {
    if (!refusedBody) exchange = start(req, res, sink, context, state, Buffer.concat(chunks));
  });
}

/**
 * Builds the request's params and runs its exchange. `wholeBody` is a body already read (a
 * chunked one); otherwise the body streams from `req` as it arrives. Returns null when the
 * request was answered 400 instead.
 */
function start(
  req: IncomingMessage,
  res: ServerResponse,
  sink: ResponseSink,
  context: HttpFrontendContext,
  state: FrontState,
  wholeBody: Buffer | null,
): Exchange | null {
  const { limits, logger } = context;
  const socket = req.socket;
  let params: ReturnType<typeof cgiParamsFor>;
  try {
    params = cgiParamsFor(
      {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        httpVersion: req.httpVersion,
        headers: headerPairs(req.rawHeaders),
        ...(wholeBody === null ? {} : { bodyLength: wholeBody.length }),
      },
      {
        remoteAddress: socket.remoteAddress ?? '',
        remotePort: socket.remotePort ?? 0,
        localAddress: socket.localAddress ?? '',
        localPort: socket.localPort ?? 0,
      },
      context.site,
    );
  } catch (error) {
    if (!(error instanceof HttpRequestError)) throw error;
    logger.info({ code: error.code, remote: socket.remoteAddress }, error.message);
    sink.stdout(generatedResponse(400, error.message));
    sink.end(0);
    return null;
  }
  const body = new RequestBody(limits.retryBodyBytes);
  const exchange = new Exchange(
    new PairParams(params),
    body,
    sink,
    { pause: () => req.pause(), resume: () => req.resume() },
    context.dispatcher,
    {
      requestTimeoutMs: limits.requestTimeoutMs,
      maxAttempts: limits.maxAttempts,
      onDone: (done, outcome) => {
        state.active -= 1;
        // Answered before the body was read (503, an app that ignores it): the rest is read
        // and dropped, so the kept-alive connection can carry the next request.
        if (!req.complete) req.resume();
        context.onOutcome?.(done, outcome);
      },
    },
  );
  state.active += 1;
  res.on('close', () => {
    if (!res.writableFinished) exchange.abort('the HTTP client went away');
  });
  const push = (chunk: Buffer) => {
    // BackendConnection writes each chunk as one STDIN record.
    for (let at = 0; at < chunk.length; at += MAX_STDIN_CHUNK) {
      if (!body.push(chunk.subarray(at, at + MAX_STDIN_CHUNK))) req.pause();
    }
  };
  if (wholeBody === null) {
    req.on('data', (chunk: Buffer) => {
      if (exchange.state !== 'done') push(chunk);
    });
    req.on('end', () => body.end());
  } else {
    push(wholeBody);
    body.end();
  }
  exchange.admit();
  return exchange;
}

interface SinkOptions {
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
class HttpResponseSink implements ResponseSink {
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

  constructor(options: SinkOptions) {
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

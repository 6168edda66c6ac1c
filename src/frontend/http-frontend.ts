import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
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
import { type Dispatcher, Exchange, type ExchangeOutcome } from '../request/exchange.js';
import { generatedResponse } from '../request/generated-response.js';
import { RequestBody } from '../request/request-body.js';
import { PairParams } from '../request/request-params.js';
import type { ResponseSink } from '../request/response-sink.js';
import { clientWarnings } from './client-warnings.js';
import { ConnectionTable, type TableEntry } from './connection-table.js';
import { HttpResponseSink } from './http-response-sink.js';
import { ListenError, listeningFd } from './listener.js';
import { isRefused, refuseConnection } from './refuse-http-connection.js';

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

  /** `inheritedFd`: a listening socket passed in (socket activation, an upgrade), used as it is. */
  static async start(
    address: ListenAddress,
    context: HttpFrontendContext,
    inheritedFd: number | null = null,
  ): Promise<HttpFrontend> {
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
      const done = () => {
        server.off('error', reject);
        resolve();
      };
      if (inheritedFd === null) server.listen(address.port, address.host, done);
      else server.listen({ fd: inheritedFd }, done);
    });
    // An accept failure (EMFILE) is emitted here; unhandled, it would end the daemon.
    server.on('error', (error: NodeJS.ErrnoException) =>
      warnings.acceptFailed.note({ err: error.code ?? error.message }),
    );
    return new HttpFrontend(server, sockets, state);
  }

  /** The descriptor it accepts on, for `switchyard upgrade` to pass on. */
  get listeningFd(): number | null {
    return listeningFd(this.#server);
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

import { chmodSync, chownSync, lstatSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { CodedError } from '../coded-error.js';
import { ConfigError } from '../config/config-error.js';
import type { ControlConfig } from '../config/config-types.js';
import { resolveGroup } from '../config/group-id.js';
import { listenInPlace, removeStaleSocket } from '../net/unix-socket-file.js';
import {
  ConnectionGuard,
  type ControlConnectionLimits,
  DEFAULT_CONTROL_LIMITS,
  type GuardedRequest,
  type ShedReason,
} from './connection-guard.js';
import { ControlClient } from './control-client.js';
import { ControlError } from './control-error.js';
import {
  CONTROL_ROUTES,
  type ControlErrorBody,
  type ControlHandler,
  type DoneEvent,
  NDJSON_CONTENT_TYPE,
  type ProgressEvent,
  REFUSAL_STATUS,
} from './messages.js';
import {
  parseAwaitRequest,
  parseDeployRequest,
  parseRestartRequest,
  parseRollbackRequest,
  readBody,
} from './request-bodies.js';
import { parseUpgradeRequest } from './upgrade-request.js';

/** The streamed operations, as they are named in log lines and failed `done` messages. */
type StreamedOperation = 'restart' | 'deploy' | 'rollback' | 'await' | 'upgrade';

/** Shed connections are a sign of abuse or a runaway script: said once a minute, not per connection. */
const SHED_WARN_INTERVAL_MS = 60_000;
/** How long close() lets a streaming operation finish before cutting its connection. */
const CLOSE_GRACE_MS = 2_000;
/** How long the start-up probe waits for whoever answers on an existing socket. */
const PROBE_TIMEOUT_MS = 2_000;

/**
 * The daemon's control socket: HTTP/1.1 with JSON bodies on a unix socket, for the CLI.
 * It only speaks HTTP; what status, restart, deploy and rollback mean is the handler's. One
 * misbehaving client (bad JSON, a dropped connection, a trickled request) costs only its own
 * request.
 */
export class ControlServer {
  readonly socketPath: string;
  readonly #server: Server;
  readonly #handler: ControlHandler;
  readonly #logger: Logger;
  /**
   * Inode of the socket file this server created, so close() never removes a successor's;
   * null for a socket passed in (socket activation, an upgrade), whose file is not ours.
   */
  #inode: number | null;
  /** Listeners made by rebind(), handing their connections to the HTTP server. */
  readonly #rebound: NetServer[] = [];
  #config: ControlConfig | null = null;
  #closing: Promise<void> | undefined;

  private constructor(
    socketPath: string,
    server: Server,
    handler: ControlHandler,
    logger: Logger,
    inode: number | null,
  ) {
    this.socketPath = socketPath;
    this.#server = server;
    this.#handler = handler;
    this.#logger = logger;
    this.#inode = inode;
  }

  /**
   * Listens on `config.socket`: creates its directory when missing, replaces a socket file a
   * dead daemon left (never one a live process answers on, never a file that is not a
   * socket), gives it `config.group` and `config.mode`. The socket is created owner-only and
   * opened up afterwards, so nobody outside the configured group can connect in between.
   * `limits` bound idle and slow clients (see ConnectionGuard); tests shorten them.
   * `inheritedFd`, a listening socket passed in (socket activation, an upgrade), is used as it
   * is: its file, group and mode are the socket unit's, and it is never removed.
   */
  static async start(
    config: ControlConfig,
    handler: ControlHandler,
    logger: Logger,
    limits: ControlConnectionLimits = DEFAULT_CONTROL_LIMITS,
    inheritedFd: number | null = null,
  ): Promise<ControlServer> {
    const path = config.socket;
    if (inheritedFd !== null) {
      const server = createServer({
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.headersTimeoutMs + limits.bodyTimeoutMs,
      });
      const control = new ControlServer(path, server, handler, logger, null);
      control.#setUp(server, limits);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ fd: inheritedFd }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      control.#config = config;
      logger.info({ socket: path, fd: inheritedFd }, 'control socket passed in: listening');
      return control;
    }
    const gid = config.group === null ? null : resolveGroup(config.group);
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    } catch (error) {
      // The config names a place that cannot be: a config error (exit 78), like paths.runtime.
      throw new ConfigError(
        'control.socket',
        `cannot create ${dirname(path)}, its directory: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
    }
    await removeStaleControlSocket(path);

    // Node's own timeouts stay as a backstop; the guard enforces them (Node checks every 30 s,
    // and not on a connection that never sent a byte). No server.maxConnections: it refuses
    // the newcomer, which is the CLI when idle clients fill the table.
    const server = createServer({
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.headersTimeoutMs + limits.bodyTimeoutMs,
    });
    const control = new ControlServer(path, server, handler, logger, null);
    control.#setUp(server, limits);
    await listenOnControlSocket(server, path);

    let inode: number;
    try {
      if (gid !== null) chownSync(path, -1, gid);
      chmodSync(path, config.mode);
      inode = lstatSync(path).ino;
    } catch (error) {
      server.close();
      rmSync(path, { force: true });
      const what =
        gid === null
          ? `set mode ${config.mode.toString(8).padStart(4, '0')} (control.mode) on`
          : `give group ${config.group} (control.group) and mode ${config.mode.toString(8).padStart(4, '0')} to`;
      throw new ControlError(
        'ERR_CONTROL_LISTEN',
        `cannot ${what} the control socket ${path}: ${(error as Error).message}`,
        { cause: error },
      );
    }

    control.#inode = inode;
    control.#config = config;
    logger.info({ socket: path, mode: config.mode.toString(8) }, 'control socket listening');
    return control;
  }

  /** The connection guard, the request handler and the error handlers of a new server. */
  #setUp(server: Server, limits: ControlConnectionLimits): void {
    const logger = this.#logger;
    server.keepAliveTimeout = limits.keepAliveTimeoutMs;
    const guard: ConnectionGuard = new ConnectionGuard(
      limits,
      shedLogger(logger, () => guard.size),
    );
    server.on('connection', (socket: Socket) => guard.admit(socket));
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      const guarded = guard.request(request.socket);
      response.once('close', () => guarded.done());
      this.#serve(request, response, guarded).catch((error: unknown) => {
        logger.error({ err: error }, 'control request failed');
        if (!response.destroyed) response.destroy();
      });
    });
    // An accept failure (EMFILE) is emitted as 'error'; unheard, it would end the daemon.
    server.on('error', (error: NodeJS.ErrnoException) =>
      logger.warn(
        { err: error.code ?? error.message },
        'control socket: accepting a connection failed',
      ),
    );
    server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
      logger.debug({ err: error.message, code: error.code }, 'control client sent a bad request');
      if (socket.writable && error.code !== 'ECONNRESET') {
        socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      } else {
        socket.destroy();
      }
    });
  }

  /** The descriptor it accepts on, for `switchyard upgrade` to pass on; null once closed. */
  get listeningFd(): number | null {
    // After a rebind the newest listener is the one on control.socket's path.
    const listener = this.#rebound.at(-1) ?? this.#server;
    const fd = (listener as unknown as { _handle: { fd?: number } | null })._handle?.fd;
    return this.#closing === undefined && typeof fd === 'number' && fd >= 0 ? fd : null;
  }

  /** A successor accepts on the same socket: close() must leave its file in place. */
  keepSocketFile(): void {
    this.#inode = null;
  }

  /**
   * Listens again on control.socket: its file was removed (the runtime directory deleted), so
   * no CLI can reach the old one. The new listener hands its connections to the same server.
   */
  async rebind(): Promise<void> {
    const config = this.#config;
    if (config === null || this.#closing !== undefined) return;
    mkdirSync(dirname(this.socketPath), { recursive: true, mode: 0o755 });
    // Closed first: closing a unix listener unlinks its path, which would be the new one's.
    for (const previous of this.#rebound.splice(0)) previous.close();
    const listener = createNetServer((socket) => this.#server.emit('connection', socket));
    await listenOnControlSocket(listener, this.socketPath);
    if (this.#closing !== undefined) {
      // A close that came while it was binding wins: nothing may accept after it.
      listener.close();
      return;
    }
    // As for the first listener: an accept failure must not end the daemon.
    listener.on('error', (error: NodeJS.ErrnoException) =>
      this.#logger.warn(
        { err: error.code ?? error.message },
        'control socket: accepting a connection failed',
      ),
    );
    const gid = config.group === null ? null : resolveGroup(config.group);
    if (gid !== null) chownSync(this.socketPath, -1, gid);
    chmodSync(this.socketPath, config.mode);
    this.#inode = lstatSync(this.socketPath).ino;
    this.#rebound.push(listener);
  }

  /** Stops listening and removes the socket file; an operation still streaming gets a short grace. */
  close(): Promise<void> {
    for (const listener of this.#rebound.splice(0)) listener.close();
    this.#closing ??= new Promise<void>((resolve) => {
      const cut = setTimeout(() => this.#server.closeAllConnections(), CLOSE_GRACE_MS);
      cut.unref();
      this.#server.close(() => {
        clearTimeout(cut);
        resolve();
      });
      this.#server.closeIdleConnections();
      this.#removeSocketFile();
    });
    return this.#closing;
  }

  #removeSocketFile(): void {
    if (this.#inode === null) return;
    try {
      if (lstatSync(this.socketPath).ino === this.#inode) rmSync(this.socketPath, { force: true });
    } catch {
      // Already gone.
    }
  }

  /**
   * Answers one request. `guarded.serving()` once the request is read: from then on no
   * deadline applies, so a restart or deploy streams for as long as it takes.
   */
  async #serve(
    request: IncomingMessage,
    response: ServerResponse,
    guarded: GuardedRequest,
  ): Promise<void> {
    const route = routeOf(request.url);
    try {
      if (route === CONTROL_ROUTES.status) {
        allowMethod(request, 'GET');
        guarded.serving();
        sendJson(response, 200, this.#handler.status());
      } else if (route === CONTROL_ROUTES.restart) {
        allowMethod(request, 'POST');
        const body = parseRestartRequest(await readBody(request));
        guarded.serving();
        await this.#stream('restart', response, (onEvent) => this.#handler.restart(body, onEvent));
      } else if (route === CONTROL_ROUTES.deploy) {
        allowMethod(request, 'POST');
        const body = parseDeployRequest(await readBody(request));
        guarded.serving();
        await this.#stream('deploy', response, (onEvent) => this.#handler.deploy(body, onEvent));
      } else if (route === CONTROL_ROUTES.rollback) {
        allowMethod(request, 'POST');
        const body = parseRollbackRequest(await readBody(request));
        guarded.serving();
        await this.#stream('rollback', response, (onEvent) =>
          this.#handler.rollback(body, onEvent),
        );
      } else if (route === CONTROL_ROUTES.upgrade) {
        allowMethod(request, 'POST');
        const body = parseUpgradeRequest(await readBody(request));
        guarded.serving();
        const { upgrade } = this.#handler;
        if (upgrade === undefined) {
          throw new ControlError('ERR_UPGRADE_UNSUPPORTED', 'this daemon cannot upgrade itself', {
            status: 409,
          });
        }
        await this.#stream('upgrade', response, () => upgrade.call(this.#handler, body));
      } else if (route === CONTROL_ROUTES.await) {
        allowMethod(request, 'POST');
        const body = parseAwaitRequest(await readBody(request));
        guarded.serving();
        await this.#stream('await', response, (onEvent, signal) =>
          this.#handler.awaitRelease(body, onEvent, signal),
        );
      } else {
        throw new ControlError('ERR_CONTROL_NOT_FOUND', `no such route: ${route}`, {
          status: 404,
        });
      }
    } catch (error) {
      this.#refuse(response, error, route);
    }
  }

  /**
   * Streams the handler's progress as NDJSON. The status line waits for the first event, so
   * a refusal (a CodedError thrown before any event) is still an HTTP error with its code.
   * A client that leaves does not stop the operation: the daemon finishes what it started.
   * `signal` tells it the client left (an `await` then stops waiting).
   */
  async #stream(
    operation: StreamedOperation,
    response: ServerResponse,
    run: (onEvent: (event: ProgressEvent) => void, signal: AbortSignal) => Promise<DoneEvent>,
  ): Promise<void> {
    const started = Date.now();
    const left = new AbortController();
    let streaming = false;
    const write = (event: ProgressEvent): void => {
      if (response.destroyed || response.writableEnded) return;
      if (!streaming) {
        streaming = true;
        response.writeHead(200, {
          'Content-Type': NDJSON_CONTENT_TYPE,
          'Cache-Control': 'no-store',
        });
      }
      response.write(`${JSON.stringify(event)}\n`);
    };
    response.once('close', () => {
      if (!response.writableFinished) {
        left.abort();
        if (operation === 'await') return;
        this.#logger.info(
          { operation },
          `control client left during a ${operation}; the ${operation} goes on`,
        );
      }
    });
    const onEvent = (event: ProgressEvent): void => {
      // A restart has no cut-over: a client expects only replica and surge lines.
      if (event.kind === 'done' || (operation === 'restart' && event.kind === 'toggle')) {
        this.#logger.warn(
          { operation, event },
          `${operation} handler passed a ${event.kind} event to onEvent; ignored`,
        );
        return;
      }
      try {
        write(event);
      } catch (error) {
        this.#logger.debug({ err: error }, 'cannot write a progress event to the control client');
      }
    };

    let done: DoneEvent;
    try {
      done = await run(onEvent, left.signal);
    } catch (error) {
      if (!streaming) throw error;
      this.#logger.error({ err: error, operation }, `${operation} failed after it started`);
      done = {
        kind: 'done',
        ok: false,
        message: `${operation} failed: ${(error as Error).message}`,
        durationMs: Date.now() - started,
      };
    }
    write(done);
    if (!response.destroyed && !response.writableEnded) response.end();
  }

  #refuse(response: ServerResponse, error: unknown, route: string): void {
    let status: number;
    let code: string;
    let message: string;
    if (error instanceof ControlError && error.status !== undefined) {
      status = error.status;
      code = error.code;
      message = error.message;
    } else if (error instanceof CodedError) {
      status = REFUSAL_STATUS[error.code] ?? 409;
      code = error.code;
      message = error.message;
    } else {
      this.#logger.error({ err: error, route }, 'control handler failed');
      status = 500;
      code = 'ERR_CONTROL_INTERNAL';
      message = `internal error in the daemon: ${(error as Error)?.message ?? String(error)} (its log has the details)`;
    }
    this.#logger.debug({ route, status, code }, 'control request refused');
    if (response.headersSent) {
      // Cannot happen on the routes above (streaming errors become a done event); be safe.
      response.destroy();
      return;
    }
    const body: ControlErrorBody = { error: { code, message } };
    const headers: Record<string, string> = {};
    if (error instanceof ControlError && error.code === 'ERR_CONTROL_METHOD') {
      headers.Allow = route === CONTROL_ROUTES.status ? 'GET' : 'POST';
    }
    sendJson(response, status, body, headers);
  }
}

/**
 * Logs what the connection guard sheds: timeouts at debug (a client that went quiet), a full
 * table at warn, once a minute (many clients at once: abuse, or a runaway script).
 */
function shedLogger(logger: Logger, connections: () => number): (reason: ShedReason) => void {
  let lastWarnedAt = Number.NEGATIVE_INFINITY;
  return (reason) => {
    logger.debug({ reason }, 'control connection closed by its limits');
    if (reason === 'timeout') return;
    const now = Date.now();
    if (now - lastWarnedAt < SHED_WARN_INTERVAL_MS) return;
    lastWarnedAt = now;
    logger.warn(
      { reason, connections: connections() },
      'control socket full: closing the connections that waited longest without a request (said once a minute)',
    );
  };
}

function allowMethod(request: IncomingMessage, method: 'GET' | 'POST'): void {
  if (request.method !== method) {
    throw new ControlError(
      'ERR_CONTROL_METHOD',
      `${request.method} is not allowed on ${routeOf(request.url)}: use ${method}`,
      { status: 405 },
    );
  }
}

/** The path of a request target, without the query; a target that is not a path is kept as is. */
function routeOf(url: string | undefined): string {
  try {
    return new URL(url ?? '/', 'http://control').pathname;
  } catch {
    return String(url);
  }
}

function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (response.destroyed) return; // the client left; nobody to answer
  const text = `${JSON.stringify(body)}\n`;
  response.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  response.end(text);
}

/**
 * A socket file whose daemon died is removed. One that answers is refused, naming the
 * daemon's pid when it is a switchyard; a path that is not a socket is never deleted.
 */
function removeStaleControlSocket(path: string): Promise<void> {
  return removeStaleSocket(path, {
    notASocket: () =>
      new ControlError(
        'ERR_CONTROL_LISTEN',
        `${path} (control.socket) exists and is not a socket; not replacing it`,
      ),
    inUse: () => controlSocketInUse(path),
  });
}

/** Why the control socket at `path` cannot be taken over, or null when no one answers on it. */
async function controlSocketInUse(path: string): Promise<ControlError | null> {
  try {
    const status = await new ControlClient(path, { timeoutMs: PROBE_TIMEOUT_MS }).status();
    return new ControlError(
      'ERR_CONTROL_SOCKET_IN_USE',
      `another switchyard daemon (pid ${status.pid}) answers on the control socket ${path}: ` +
        'stop it first, or give this one another control.socket',
    );
  } catch (error) {
    if (!(error instanceof ControlError)) throw error;
    switch (error.code) {
      case 'ERR_DAEMON_NOT_RUNNING':
        return null;
      case 'ERR_CONTROL_PERMISSION':
        return new ControlError(
          'ERR_CONTROL_LISTEN',
          `cannot check whether the existing control socket ${path} is in use: permission denied`,
          { cause: error },
        );
      default:
        // It accepted a connection but did not speak the control protocol: still in use.
        return new ControlError(
          'ERR_CONTROL_SOCKET_IN_USE',
          `a running process that is not a switchyard daemon answers on the control socket ${path}: ` +
            'give switchyard another control.socket',
          { cause: error },
        );
    }
  }
}

/** listenOwnerOnly, its failure named as the control socket's. */
async function listenOnControlSocket(server: Server | NetServer, path: string): Promise<void> {
  try {
    await listenInPlace(server, path);
  } catch (error) {
    throw new ControlError(
      'ERR_CONTROL_LISTEN',
      `cannot listen on the control socket ${path} (control.socket): ${(error as Error).message}`,
      { cause: error },
    );
  }
}

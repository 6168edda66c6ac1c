import type { Socket } from 'node:net';
import type { ListenAddress } from '../config/address.js';
import { batchWritesThisTick } from '../net/batch-writes.js';
import { connectTo } from '../net/connect-to.js';
import { isDescriptorExhaustion } from '../net/descriptor-exhaustion.js';
import { writeRecordTo } from '../net/write-record.js';
import { ProtocolStatus, RecordType, Role } from '../protocol/constants.js';
import { encodeBeginRequestBody, parseEndRequestBody } from '../protocol/record-bodies.js';
import { RecordDecoder } from '../protocol/record-decoder.js';
import { encodeRecord } from '../protocol/record-encoder.js';
import type { Exchange } from '../request/exchange.js';

/** php-fpm does not multiplex: one request per connection, so its id is always 1. */
const BACKEND_REQUEST_ID = 1;
const BEGIN_KEEP_CONN = encodeRecord(
  RecordType.BeginRequest,
  BACKEND_REQUEST_ID,
  encodeBeginRequestBody(Role.Responder, true),
);
const STDIN_END = encodeRecord(RecordType.Stdin, BACKEND_REQUEST_ID);

/**
 * - connecting: not yet accepted, no request
 * - busy: carrying a request whose client is waiting
 * - abandoned: its client went away or timed out, but the worker still runs the script:
 *   the output is discarded and the slot stays taken until END_REQUEST (or the give-up)
 * - idle: kept alive between requests
 * - closed
 */
export type BackendConnectionState = 'connecting' | 'idle' | 'busy' | 'abandoned' | 'closed';

/** What a connection held when it closed: nothing, a live request, or an abandoned one. */
export type HeldAtClose = 'nothing' | 'request' | 'abandoned';

/** The request a connection carries, as the watchdog describes it; kept after abandonment. */
export interface CarriedRequest {
  readonly exchange: Exchange;
  /** Date.now() when it was sent to the worker. */
  readonly startedAt: number;
}

/** What a connection tells its replica pool. */
export interface ConnectionOwner {
  /** The request ended cleanly: the connection can serve the next one. */
  released(connection: BackendConnection): void;
  /** Its request was abandoned: the worker is still busy with it until `abandonedRequestEnded`. */
  requestAbandoned(connection: BackendConnection): void;
  /** An abandoned request's END_REQUEST came: the worker is free, the connection reusable. */
  abandonedRequestEnded(connection: BackendConnection): void;
  /**
   * An abandoned request ran past `abandonAfterMs`: the connection is closed and the slot
   * counted stuck, since the worker may still be running the script.
   */
  abandonedRequestGivenUp(connection: BackendConnection, request: CarriedRequest): void;
  /**
   * The connection is gone. `connectFailed`: the replica refused it (not a socket switchyard
   * closed itself, nor one this process had no descriptor for).
   */
  closed(
    connection: BackendConnection,
    held: HeldAtClose,
    connectFailed: boolean,
    error: Error | null,
  ): void;
}

export interface BackendConnectionTimeouts {
  /** A connection not accepted within this counts as the replica being unreachable. */
  readonly connectMs: number;
  /** How long an abandoned request may keep its slot before it is given up as stuck. */
  readonly abandonAfterMs: number;
}

/**
 * One kept-alive connection to a replica, carrying one request at a time with
 * FCGI_KEEP_CONN. Response records are handed to the exchange as views; records that come
 * after END_REQUEST are ignored.
 */
export class BackendConnection {
  readonly #socket: Socket;
  readonly #owner: ConnectionOwner;
  readonly #decoder: RecordDecoder;
  #state: BackendConnectionState = 'connecting';
  #connected = false;
  #exchange: Exchange | null = null;
  /**
   * The request on it, busy or abandoned (null when idle), and when it was sent: two fields,
   * not a record, so the request path allocates nothing for the watchdog's rare looks.
   */
  #carriedExchange: Exchange | null = null;
  #startedAt = 0;
  #stdinEnded = false;
  /** False once switchyard has ended its side (an abandoned request's cut-short body). */
  #reusable = true;
  /** Its request ran on a replica replaced for being stuck: failing, it is not retried. */
  #noRetry = false;
  #abandonTimer: NodeJS.Timeout | null = null;
  readonly #abandonAfterMs: number;
  #error: Error | null = null;
  /**
   * Destroyed by switchyard (its client went away, a timeout): a connect still under way is
   * not the replica refusing, and must not take it out of rotation.
   */
  #closedByUs = false;
  #awaitingDrain = false;
  /**
   * END_REQUEST came in the read being decoded: the rest of that read still belongs to the
   * finished request (the next request's answer cannot come before the next read), and is
   * ignored even if the connection already carries a new request.
   */
  #endedInThisRead = false;
  idleTimer: NodeJS.Timeout | null = null;

  constructor(address: ListenAddress, owner: ConnectionOwner, timeouts: BackendConnectionTimeouts) {
    const connectTimeoutMs = timeouts.connectMs;
    this.#abandonAfterMs = timeouts.abandonAfterMs;
    this.#owner = owner;
    this.#decoder = new RecordDecoder((type, requestId, content) =>
      this.#onRecord(type, requestId, content),
    );
    this.#socket = connectTo(address);
    // A black-holed TCP replica would otherwise hold the request until the OS gives up.
    const connectTimer = setTimeout(() => {
      this.#error = new Error(`no connection within ${connectTimeoutMs} ms`);
      this.#socket.destroy();
    }, connectTimeoutMs);
    this.#socket.once('connect', () => {
      clearTimeout(connectTimer);
      this.#connected = true;
    });
    this.#socket.once('close', () => clearTimeout(connectTimer));
    this.#socket.on('data', (chunk: Buffer) => {
      this.#endedInThisRead = false;
      try {
        this.#decoder.write(chunk);
      } catch (error) {
        this.#error = error as Error;
        this.#socket.destroy();
      }
    });
    this.#socket.on('error', (error) => {
      this.#error = error;
    });
    this.#socket.on('close', () => this.#onClose());
  }

  /** Sends one request: BEGIN_REQUEST, the (pinned, pair-framed) PARAMS, then the body. */
  run(exchange: Exchange, paramsRecords: Buffer): void {
    this.#state = 'busy';
    this.#exchange = exchange;
    this.#carriedExchange = exchange;
    this.#startedAt = Date.now();
    this.#stdinEnded = false;
    const socket = this.#socket;
    // The client's STDIN records usually follow in the same read: send them along.
    batchWritesThisTick(socket);
    socket.write(BEGIN_KEEP_CONN);
    socket.write(paramsRecords);
    exchange.started(this);
    const flowing = exchange.body.attach({
      write: (chunk) => this.#writeStdin(chunk),
      end: () => {
        this.#stdinEnded = true;
        batchWritesThisTick(socket);
        socket.write(STDIN_END);
      },
    });
    if (flowing) exchange.resumeInput();
    else this.#waitForBackendDrain(exchange);
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  get state(): BackendConnectionState {
    return this.#state;
  }

  /**
   * Its request, if the connection fails, is answered 502 instead of retried: it hung a
   * worker (a lock, a dead dependency) and would hang the next replica's the same way.
   */
  refuseRetry(): void {
    this.#noRetry = true;
  }

  /** Whether it can carry another request after its current one. */
  get reusable(): boolean {
    return this.#reusable;
  }

  /** The request it carries (busy or abandoned), or null. */
  get carried(): CarriedRequest | null {
    const exchange = this.#carriedExchange;
    return exchange === null ? null : { exchange, startedAt: this.#startedAt };
  }

  /**
   * Drops the current request's client side. The worker goes on running the script whatever
   * switchyard does (php-fpm ignores an aborted connection until the script writes), so the
   * connection stays open and the slot taken until END_REQUEST: a request sent to a "freed"
   * slot would wait in the replica's backlog behind it. The rest of the output is discarded.
   */
  abandon(): void {
    this.#exchange = null;
    if (this.#state !== 'busy') {
      this.#closedByUs = true;
      this.#socket.destroy();
      return;
    }
    this.#state = 'abandoned';
    // The worker may be reading a body that will never be whole. An empty STDIN record does
    // not end it (php-fpm reads on for CONTENT_LENGTH and blocks on the next header): only the
    // end of the stream does. The connection is then used up.
    if (!this.#stdinEnded) {
      this.#stdinEnded = true;
      this.#reusable = false;
      this.#socket.end();
    }
    // Paused for a slow client that is gone now: the output must flow to reach END_REQUEST.
    this.#socket.resume();
    this.#abandonTimer = setTimeout(() => this.#giveUp(), this.#abandonAfterMs);
    this.#abandonTimer.unref();
    this.#owner.requestAbandoned(this);
  }

  /** Closes an idle connection (idle timeout, draining, removal). */
  close(): void {
    this.#closedByUs = true;
    this.#socket.destroy();
  }

  /** The abandoned request outlived its bound: close, and let the pool count the slot stuck. */
  #giveUp(): void {
    this.#abandonTimer = null;
    const carried = this.carried;
    if (this.#state !== 'abandoned' || carried === null) return;
    this.#state = 'closed';
    this.#carriedExchange = null;
    this.#closedByUs = true;
    this.#socket.destroy();
    this.#owner.abandonedRequestGivenUp(this, carried);
  }

  #writeStdin(chunk: Buffer): boolean {
    // Client STDIN records carry at most 65535 bytes, so each chunk fits one record; the
    // content is written as it came, only the header is new.
    const flowing = writeRecordTo(this.#socket, RecordType.Stdin, BACKEND_REQUEST_ID, chunk);
    if (!flowing && this.#exchange !== null) this.#waitForBackendDrain(this.#exchange);
    return flowing;
  }

  /** The backend is slow to read the upload: stop reading the client until it drains. */
  #waitForBackendDrain(exchange: Exchange): void {
    exchange.pauseInput();
    if (this.#awaitingDrain) return;
    this.#awaitingDrain = true;
    // Whoever is current when the backend drains resumes: the request that paused may have
    // ended, and the next one on this connection may be waiting for this very drain.
    this.#socket.once('drain', () => {
      this.#awaitingDrain = false;
      this.#exchange?.resumeInput();
    });
  }

  #onRecord(type: number, requestId: number, content: Buffer): void {
    if (requestId !== BACKEND_REQUEST_ID || this.#endedInThisRead) return;
    if (this.#state === 'abandoned') {
      if (type === RecordType.EndRequest) this.#abandonedEnd(content);
      return;
    }
    const exchange = this.#exchange;
    if (exchange === null) return;
    switch (type) {
      case RecordType.Stdout:
        if (content.length > 0) exchange.onStdout(content);
        break;
      case RecordType.Stderr:
        if (content.length > 0) exchange.onStderr(content);
        break;
      case RecordType.EndRequest: {
        // Parsed before any state changes: a malformed body fails the connection (and the
        // request is retried) instead of leaving a slot counted busy forever.
        const { appStatus, protocolStatus } = parseEndRequestBody(content);
        if (protocolStatus !== ProtocolStatus.RequestComplete) {
          // OVERLOADED, CANT_MPX_CONN, UNKNOWN_ROLE: the application refused the request.
          this.#error = new Error(
            `the application refused the request (protocol status ${protocolStatus})`,
          );
          this.#socket.destroy();
          return;
        }
        this.#exchange = null;
        this.#carriedExchange = null;
        this.#state = 'idle';
        this.#endedInThisRead = true;
        exchange.body.detach();
        // A slow client may have paused this socket and the answer ended before it drained:
        // an idle connection always reads, or its next request would hang.
        this.#socket.resume();
        // Free the slot before answering, so the next queued request can take it at once.
        this.#owner.released(this);
        exchange.onEnd(appStatus);
        break;
      }
    }
  }

  /** The worker finished the abandoned script: its slot is free and the connection reusable. */
  #abandonedEnd(content: Buffer): void {
    const { protocolStatus } = parseEndRequestBody(content);
    if (protocolStatus !== ProtocolStatus.RequestComplete) {
      this.#socket.destroy();
      return;
    }
    if (this.#abandonTimer !== null) clearTimeout(this.#abandonTimer);
    this.#abandonTimer = null;
    this.#carriedExchange = null;
    this.#state = 'idle';
    this.#endedInThisRead = true;
    this.#owner.abandonedRequestEnded(this);
  }

  #onClose(): void {
    if (this.#state === 'closed') return; // given up: the pool already knows
    const held: HeldAtClose =
      this.#state === 'busy' ? 'request' : this.#state === 'abandoned' ? 'abandoned' : 'nothing';
    this.#state = 'closed';
    this.#carriedExchange = null;
    if (this.#abandonTimer !== null) clearTimeout(this.#abandonTimer);
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    const exchange = this.#exchange;
    this.#exchange = null;
    const error =
      this.#error ??
      new Error(this.#connected ? 'connection closed by the replica' : 'connection refused');
    // The replica refused: not when switchyard closed the socket itself, nor when this process
    // had no descriptor for it. Only a refusal takes the replica out of rotation and costs the
    // request no attempt (out of descriptors, a free retry could loop).
    const refused = !this.#connected && !this.#closedByUs && !isDescriptorExhaustion(error);
    this.#owner.closed(this, held, refused, error);
    exchange?.onBackendFailure(error, refused, !this.#noRetry);
  }
}

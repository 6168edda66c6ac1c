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

export type BackendConnectionState = 'connecting' | 'idle' | 'busy' | 'closed';

/** What a connection tells its replica pool. */
export interface ConnectionOwner {
  /** The request ended cleanly: the connection can serve the next one. */
  released(connection: BackendConnection): void;
  /**
   * The connection is gone. `connectFailed`: the replica refused it (not a socket switchyard
   * closed itself, nor one this process had no descriptor for).
   */
  closed(
    connection: BackendConnection,
    wasBusy: boolean,
    connectFailed: boolean,
    error: Error | null,
  ): void;
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

  constructor(address: ListenAddress, owner: ConnectionOwner, connectTimeoutMs: number) {
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
    const socket = this.#socket;
    // The client's STDIN records usually follow in the same read: send them along.
    batchWritesThisTick(socket);
    socket.write(BEGIN_KEEP_CONN);
    socket.write(paramsRecords);
    exchange.started(this);
    const flowing = exchange.body.attach({
      write: (chunk) => this.#writeStdin(chunk),
      end: () => {
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

  /** Drops the current request: the connection is destroyed, never reused. */
  abandon(): void {
    this.#exchange = null;
    this.#closedByUs = true;
    this.#socket.destroy();
  }

  /** Closes an idle connection (idle timeout, draining, removal). */
  close(): void {
    this.#closedByUs = true;
    this.#socket.destroy();
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
    const exchange = this.#exchange;
    if (exchange === null || requestId !== BACKEND_REQUEST_ID || this.#endedInThisRead) return;
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

  #onClose(): void {
    const wasBusy = this.#state === 'busy';
    this.#state = 'closed';
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
    this.#owner.closed(this, wasBusy, refused, error);
    exchange?.onBackendFailure(error, refused);
  }
}

import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { batchWritesThisTick } from '../net/batch-writes.js';
import { writeRecordTo } from '../net/write-record.js';
import {
  FCGI_HEADER_LENGTH,
  FCGI_MAXTYPE,
  FCGI_NULL_REQUEST_ID,
  ManagementVariable,
  ProtocolStatus,
  RecordType,
  Role,
} from '../protocol/constants.js';
import { decodeNameValuePairs, encodeNameValuePairs } from '../protocol/name-value-pairs.js';
import { ParamsAccumulator } from '../protocol/params-accumulator.js';
import { FcgiProtocolError } from '../protocol/protocol-error.js';
import {
  encodeEndRequestBody,
  encodeUnknownTypeBody,
  parseBeginRequestBody,
} from '../protocol/record-bodies.js';
import { RecordDecoder } from '../protocol/record-decoder.js';
import { encodeRecord, writeHeader, writeRecord } from '../protocol/record-encoder.js';
import { type Dispatcher, Exchange, type ExchangeOutcome } from '../request/exchange.js';
import { RequestBody } from '../request/request-body.js';
import { WireParams } from '../request/request-params.js';
import type { ResponseSink } from '../request/response-sink.js';
import type { ClientWarnings } from './client-warnings.js';

export interface FrontendLimits {
  readonly maxParamsBytes: number;
  readonly retryBodyBytes: number;
  readonly requestTimeoutMs: number;
  readonly maxAttempts: number;
  /**
   * Connections the front keeps open at once; one beyond them is closed when accepted. Also
   * the FCGI_MAX_CONNS of GET_VALUES answers.
   */
  readonly maxConns: number;
  readonly maxReqs: number;
  /** Requests one connection may have begun and not finished; a further one: CANT_MPX_CONN. */
  readonly requestsPerConnection: number;
  /**
   * Bytes one connection may make switchyard hold at once: params being collected, bodies
   * held, answers queued for it. Beyond it that connection is closed.
   */
  readonly connectionBufferBytes: number;
  /** From BEGIN_REQUEST to the end of its params; then the connection is closed. */
  readonly paramsTimeoutMs: number;
  /** A connection with no request in progress that is silent this long is closed. */
  readonly clientIdleTimeoutMs: number;
}

export interface FrontendContext {
  readonly dispatcher: Dispatcher;
  readonly limits: FrontendLimits;
  readonly logger: Logger;
  readonly onOutcome?: (exchange: Exchange, outcome: ExchangeOutcome) => void;
  /** A request left this front end (answered, aborted, or its client gone). */
  readonly onRequestRemoved?: () => void;
}

/** A request between BEGIN_REQUEST and its complete params. */
interface Pending {
  readonly keepConn: boolean;
  params: ParamsAccumulator | null;
  exchange: Exchange | null;
  /** STDIN that arrived before the params were complete (allowed by the spec). */
  body: RequestBody;
  /** Closes the connection when the params do not end in time; armed after the first read. */
  paramsTimer: NodeJS.Timeout | null;
}

/**
 * One web server connection speaking FastCGI to switchyard. Requests are tracked by their
 * id, so clients that multiplex are served too. Malformed input ends this connection (and
 * its requests) and nothing else.
 */
export class FastCgiClientConnection {
  readonly #socket: Socket;
  readonly #context: FrontendContext;
  readonly #warnings: ClientWarnings;
  readonly #decoder: RecordDecoder;
  readonly #requests = new Map<number, Pending>();
  #closed = false;
  #closing = false;
  /**
   * When the client last completed a record: idleness is measured from it, not from the last
   * byte, or a client trickling one byte at a time would never be idle.
   */
  #lastRecordAt = Date.now();
  /** Answers of ours (UNKNOWN_TYPE, GET_VALUES…) wait for the client to read them. */
  #answersWaiting = false;

  constructor(socket: Socket, context: FrontendContext, warnings: ClientWarnings) {
    this.#socket = socket;
    this.#context = context;
    this.#warnings = warnings;
    this.#decoder = new RecordDecoder((type, id, content) => this.#onRecord(type, id, content));
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => {});
    socket.on('close', () => this.#onClose());
  }

  /** Requests begun on this connection and not yet answered. */
  get activeRequests(): number {
    return this.#requests.size;
  }

  /** A request is in progress on it. */
  get busy(): boolean {
    return this.#requests.size > 0;
  }

  /** Date.now() when the client last completed a record (or connected). */
  get lastActiveAt(): number {
    return this.#lastRecordAt;
  }

  /**
   * Lets an idle connection go (no request in progress: nothing is lost): it has been quiet
   * for limits.client_idle_timeout, or a newcomer needs its place.
   */
  letGo(): void {
    if (this.#requests.size === 0) this.#drop();
  }

  /**
   * Shutting down: ends the connection as soon as no request is in progress on it, even one
   * the web server asked to keep open (it reconnects elsewhere, or to the next daemon).
   * Requests still receiving their params never reached the balancer: they are not waited
   * for, or one client whose params never end would hold the stop. A connection with only
   * such requests is closed now; on one that also has admitted requests they are answered
   * OVERLOADED.
   */
  closeWhenIdle(): void {
    this.#closing = true;
    let admitted = false;
    for (const pending of this.#requests.values()) if (pending.exchange !== null) admitted = true;
    if (!admitted && this.#requests.size > 0) {
      this.#drop();
      return;
    }
    for (const [id, pending] of this.#requests) {
      if (pending.exchange !== null) continue;
      this.#remove(id);
      this.#answer(endRequest(id, ProtocolStatus.Overloaded));
    }
    if (this.#requests.size === 0) this.#socket.end();
  }

  #onData(chunk: Buffer): void {
    try {
      this.#decoder.write(chunk);
      this.#afterRead();
    } catch (error) {
      // Whatever went wrong while reading this client's bytes ends this connection only;
      // re-throwing would take down the daemon and every other request with it.
      if (error instanceof FcgiProtocolError) {
        // A client can send this at will: one line per interval, with the latest reason.
        this.#warnings.malformed.note({
          reason: error.code,
          err: error.message,
          remote: this.#socket.remoteAddress,
        });
      } else {
        this.#context.logger.error(
          {
            code: 'ERR_INTERNAL',
            err: (error as Error).message,
            remote: this.#socket.remoteAddress,
          },
          'error while serving a client: closing that connection',
        );
      }
      this.#socket.destroy();
    }
  }

  #onRecord(type: number, id: number, content: Buffer): void {
    this.#lastRecordAt = Date.now();
    if (id === FCGI_NULL_REQUEST_ID) {
      this.#onManagementRecord(type, content);
      return;
    }
    switch (type) {
      case RecordType.BeginRequest:
        this.#onBegin(id, content);
        return;
      case RecordType.Params:
        this.#onParams(id, content);
        return;
      case RecordType.Stdin:
        this.#onStdin(id, content);
        return;
      case RecordType.AbortRequest:
        this.#onAbort(id);
        return;
      case RecordType.Data:
        return; // only the FILTER role reads DATA, and that role is refused
      default:
        if (type > FCGI_MAXTYPE) {
          this.#answer(
            encodeRecord(RecordType.UnknownType, FCGI_NULL_REQUEST_ID, encodeUnknownTypeBody(type)),
          );
          return;
        }
        // A response record type (STDOUT, END_REQUEST, ...) sent by a client.
        throw new FcgiProtocolError('ERR_FCGI_BAD_RECORD', `a client sent record type ${type}`);
    }
  }

  #onManagementRecord(type: number, content: Buffer): void {
    if (type !== RecordType.GetValues) {
      this.#answer(
        encodeRecord(RecordType.UnknownType, FCGI_NULL_REQUEST_ID, encodeUnknownTypeBody(type)),
      );
      return;
    }
    const { limits } = this.#context;
    // A Map, not an object literal: a client asking for "constructor" must get nothing back.
    const known = new Map<string, string>([
      [ManagementVariable.MaxConns, String(limits.maxConns)],
      [ManagementVariable.MaxReqs, String(limits.maxReqs)],
      [ManagementVariable.MpxsConns, '1'],
    ]);
    const answers = decodeNameValuePairs(content).flatMap(([name]) => {
      const value = known.get(name);
      return value === undefined ? [] : [[name, value] as const];
    });
    this.#answer(
      encodeRecord(RecordType.GetValuesResult, FCGI_NULL_REQUEST_ID, encodeNameValuePairs(answers)),
    );
  }

  #onBegin(id: number, content: Buffer): void {
    if (this.#requests.has(id)) {
      throw new FcgiProtocolError('ERR_FCGI_BAD_RECORD', `BEGIN_REQUEST for active request ${id}`);
    }
    const { role, keepConn } = parseBeginRequestBody(content);
    if (role !== Role.Responder) {
      this.#answer(endRequest(id, ProtocolStatus.UnknownRole));
      if (!keepConn) this.#socket.end();
      return;
    }
    if (this.#requests.size >= this.#context.limits.requestsPerConnection) {
      // The spec's answer to a request a connection cannot take; the others on it go on.
      this.#answer(endRequest(id, ProtocolStatus.CantMultiplexConnections));
      return;
    }
    if (this.#closing) {
      // Stopping: a request that would start now is refused rather than waited for.
      this.#answer(endRequest(id, ProtocolStatus.Overloaded));
      return;
    }
    this.#requests.set(id, {
      keepConn,
      params: new ParamsAccumulator(this.#context.limits.maxParamsBytes),
      exchange: null,
      body: new RequestBody(this.#context.limits.retryBodyBytes),
      paramsTimer: null,
    });
  }

  #onParams(id: number, content: Buffer): void {
    const pending = this.#requests.get(id);
    if (pending?.params == null) return; // not ours, or params already complete
    if (content.length > 0) {
      pending.params.push(content);
      return;
    }
    const params = new WireParams(pending.params.finish());
    pending.params = null;
    if (pending.paramsTimer !== null) clearTimeout(pending.paramsTimer);
    pending.paramsTimer = null;
    const exchange = new Exchange(
      params,
      pending.body,
      this.#sinkFor(id, pending),
      { pause: () => this.#pauseInput(), resume: () => this.#resumeInput() },
      this.#context.dispatcher,
      {
        requestTimeoutMs: this.#context.limits.requestTimeoutMs,
        maxAttempts: this.#context.limits.maxAttempts,
        onDone: (done, outcome) => this.#onExchangeDone(id, done, outcome),
      },
    );
    pending.exchange = exchange;
    exchange.admit();
  }

  #onStdin(id: number, content: Buffer): void {
    const pending = this.#requests.get(id);
    if (pending === undefined || pending.body.ended) return;
    if (content.length === 0) pending.body.end();
    else if (!pending.body.push(content)) this.#pauseInput();
  }

  #onAbort(id: number): void {
    const pending = this.#requests.get(id);
    if (pending === undefined) return;
    if (pending.exchange !== null) pending.exchange.abort('the client sent ABORT_REQUEST');
    else this.#remove(id);
    // The spec wants an END_REQUEST for an aborted request.
    this.#answer(endRequest(id, ProtocolStatus.RequestComplete));
    if (!pending.keepConn) this.#socket.end();
  }

  #sinkFor(id: number, pending: Pending): ResponseSink {
    const socket = this.#socket;
    const forward = (type: number, content: Buffer): boolean => {
      if (this.#closed) return true;
      // Only the header is new: the content is the backend's bytes, re-addressed to this id.
      if (writeRecordTo(socket, type, id, content)) return true;
      // The exchange stops reading its backend now; many requests on one connection could
      // each still queue a backend read.
      this.#checkBuffer();
      return false;
    };
    return {
      stdout: (content) => forward(RecordType.Stdout, content),
      stderr: (content) => forward(RecordType.Stderr, content),
      end: (appStatus) => {
        if (this.#closed) return;
        batchWritesThisTick(socket);
        this.#write(responseEnd(id, appStatus));
        if (!pending.keepConn) socket.end();
      },
      abort: () => socket.destroy(),
      onDrain: (listener) => socket.once('drain', listener),
    };
  }

  #onExchangeDone(id: number, exchange: Exchange, outcome: ExchangeOutcome): void {
    const pending = this.#requests.get(id);
    if (pending?.exchange === exchange) this.#remove(id);
    // The request may have paused this connection (a slow backend, a held body); the next
    // request on it must be read.
    this.#resumeInput();
    this.#context.onOutcome?.(exchange, outcome);
    if (this.#closing && this.#requests.size === 0) this.#socket.end();
  }

  // One flag for the connection: web servers do not multiplex, and a multiplexing client
  // whose other request still has a slow backend is paused again by that request's next push.
  #remove(id: number): void {
    const pending = this.#requests.get(id);
    if (pending?.paramsTimer != null) clearTimeout(pending.paramsTimer);
    this.#requests.delete(id);
    this.#context.onRequestRemoved?.();
  }

  /**
   * After each read: requests whose params are still incomplete get their deadline (armed
   * here, not at BEGIN_REQUEST: a web server's params end in the read they start in, and
   * then no timer is made at all), and what the connection holds is checked.
   */
  #afterRead(): void {
    for (const [id, pending] of this.#requests) {
      if (pending.params === null || pending.paramsTimer !== null) continue;
      pending.paramsTimer = setTimeout(
        () => this.#paramsTimedOut(id),
        this.#context.limits.paramsTimeoutMs,
      );
    }
    this.#checkBuffer();
  }

  /**
   * Closes the connection when it makes switchyard hold more than its budget: the memory its
   * params and bodies keep (not only the bytes they count) and what is queued for it to read.
   */
  #checkBuffer(): void {
    const limit = this.#context.limits.connectionBufferBytes;
    let held = this.#socket.writableLength;
    for (const pending of this.#requests.values()) {
      held += (pending.params?.retained ?? 0) + pending.body.retained;
    }
    if (held <= limit) return;
    this.#warnings.overBuffer.note({ remote: this.#socket.remoteAddress, held, limit });
    this.#drop();
  }

  #paramsTimedOut(id: number): void {
    const pending = this.#requests.get(id);
    if (pending === undefined) return;
    pending.paramsTimer = null;
    if (pending.params === null) return;
    this.#warnings.paramsTimeout.note({
      remote: this.#socket.remoteAddress,
      timeoutMs: this.#context.limits.paramsTimeoutMs,
    });
    this.#drop();
  }

  /** Closes the connection now; its requests are aborted when the close arrives. */
  #drop(): void {
    this.#closed = true;
    this.#socket.destroy();
  }

  #pauseInput(): void {
    this.#socket.pause();
  }

  #resumeInput(): void {
    // Answers of ours the client has not read yet: reading it now would only queue more.
    if (!this.#closed && !this.#answersWaiting) this.#socket.resume();
  }

  #write(bytes: Buffer): boolean {
    if (this.#closed) return true;
    return this.#socket.write(bytes);
  }

  /**
   * Writes an answer to something the client sent (UNKNOWN_TYPE, GET_VALUES, a refused
   * request). A client that sends and never reads would have them queue without end, so its
   * input is paused until it reads what is queued.
   */
  #answer(bytes: Buffer): void {
    if (this.#write(bytes) || this.#answersWaiting || this.#closed) return;
    this.#answersWaiting = true;
    this.#socket.pause();
    this.#socket.once('drain', () => {
      this.#answersWaiting = false;
      this.#resumeInput();
    });
  }

  #onClose(): void {
    this.#closed = true;
    for (const pending of this.#requests.values()) {
      if (pending.paramsTimer !== null) clearTimeout(pending.paramsTimer);
      pending.exchange?.abort('the client closed its connection');
    }
    this.#requests.clear();
    this.#context.onRequestRemoved?.();
  }
}

function endRequest(id: number, protocolStatus: ProtocolStatus): Buffer {
  return encodeRecord(RecordType.EndRequest, id, encodeEndRequestBody(0, protocolStatus));
}

/** The empty STDOUT that ends the stream and END_REQUEST, in one buffer. */
function responseEnd(id: number, appStatus: number): Buffer {
  const out = Buffer.allocUnsafe(FCGI_HEADER_LENGTH * 3);
  writeHeader(out, 0, RecordType.Stdout, id, 0, 0);
  writeRecord(
    out,
    FCGI_HEADER_LENGTH,
    RecordType.EndRequest,
    id,
    encodeEndRequestBody(appStatus, ProtocolStatus.RequestComplete),
  );
  return out;
}

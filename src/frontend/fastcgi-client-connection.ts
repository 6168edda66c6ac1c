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
import { type Dispatcher, Exchange, type ExchangeOutcome } from './exchange.js';
import { RequestBody } from './request-body.js';
import { WireParams } from './request-params.js';
import type { ResponseSink } from './response-sink.js';

export interface FrontendLimits {
  readonly maxParamsBytes: number;
  readonly retryBodyBytes: number;
  readonly requestTimeoutMs: number;
  readonly maxAttempts: number;
  /** Reported in GET_VALUES answers. */
  readonly maxConns: number;
  readonly maxReqs: number;
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
}

/**
 * One web server connection speaking FastCGI to switchyard. Requests are tracked by their
 * id, so clients that multiplex are served too. Malformed input ends this connection (and
 * its requests) and nothing else.
 */
export class FastCgiClientConnection {
  readonly #socket: Socket;
  readonly #context: FrontendContext;
  readonly #decoder: RecordDecoder;
  readonly #requests = new Map<number, Pending>();
  #closed = false;
  #closing = false;

  constructor(socket: Socket, context: FrontendContext) {
    this.#socket = socket;
    this.#context = context;
    this.#decoder = new RecordDecoder((type, id, content) => this.#onRecord(type, id, content));
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => {});
    socket.on('close', () => this.#onClose());
  }

  /** Requests begun on this connection and not yet answered. */
  get activeRequests(): number {
    return this.#requests.size;
  }

  /**
   * Shutting down: ends the connection as soon as no request is in progress on it, even one
   * the web server asked to keep open (it reconnects elsewhere, or to the next daemon).
   */
  closeWhenIdle(): void {
    this.#closing = true;
    if (this.#requests.size === 0) this.#socket.end();
  }

  #onData(chunk: Buffer): void {
    try {
      this.#decoder.write(chunk);
    } catch (error) {
      // Whatever went wrong while reading this client's bytes ends this connection only;
      // re-throwing would take down the daemon and every other request with it.
      const protocol = error instanceof FcgiProtocolError;
      this.#context.logger.warn(
        {
          code: protocol ? error.code : 'ERR_INTERNAL',
          err: (error as Error).message,
          remote: this.#socket.remoteAddress,
        },
        protocol
          ? 'malformed FastCGI from a client: closing that connection'
          : 'error while serving a client: closing that connection',
      );
      this.#socket.destroy();
    }
  }

  #onRecord(type: number, id: number, content: Buffer): void {
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
          this.#write(
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
      this.#write(
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
    this.#write(
      encodeRecord(RecordType.GetValuesResult, FCGI_NULL_REQUEST_ID, encodeNameValuePairs(answers)),
    );
  }

  #onBegin(id: number, content: Buffer): void {
    if (this.#requests.has(id)) {
      throw new FcgiProtocolError('ERR_FCGI_BAD_RECORD', `BEGIN_REQUEST for active request ${id}`);
    }
    const { role, keepConn } = parseBeginRequestBody(content);
    if (role !== Role.Responder) {
      this.#write(
        encodeRecord(
          RecordType.EndRequest,
          id,
          encodeEndRequestBody(0, ProtocolStatus.UnknownRole),
        ),
      );
      if (!keepConn) this.#socket.end();
      return;
    }
    this.#requests.set(id, {
      keepConn,
      params: new ParamsAccumulator(this.#context.limits.maxParamsBytes),
      exchange: null,
      body: new RequestBody(this.#context.limits.retryBodyBytes),
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
    this.#write(
      encodeRecord(
        RecordType.EndRequest,
        id,
        encodeEndRequestBody(0, ProtocolStatus.RequestComplete),
      ),
    );
    if (!pending.keepConn) this.#socket.end();
  }

  #sinkFor(id: number, pending: Pending): ResponseSink {
    const socket = this.#socket;
    const forward = (type: number, content: Buffer): boolean => {
      if (this.#closed) return true;
      // Only the header is new: the content is the backend's bytes, re-addressed to this id.
      return writeRecordTo(socket, type, id, content);
    };
    return {
      stdout: (content) => forward(RecordType.Stdout, content),
      stderr: (content) => {
        forward(RecordType.Stderr, content);
      },
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
    this.#requests.delete(id);
    this.#context.onRequestRemoved?.();
  }

  #pauseInput(): void {
    this.#socket.pause();
  }

  #resumeInput(): void {
    if (!this.#closed) this.#socket.resume();
  }

  #write(bytes: Buffer): boolean {
    if (this.#closed) return true;
    return this.#socket.write(bytes);
  }

  #onClose(): void {
    this.#closed = true;
    for (const pending of this.#requests.values()) {
      pending.exchange?.abort('the client closed its connection');
    }
    this.#requests.clear();
    this.#context.onRequestRemoved?.();
  }
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

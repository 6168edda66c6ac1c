import { CodedError } from '../coded-error.js';
import { formatAddress, type ListenAddress } from '../config/address.js';
import { MAX_CGI_HEAD_BYTES, parseCgiResponseHead } from '../protocol/cgi-response.js';
import { ProtocolStatus, RecordType } from '../protocol/constants.js';
import type { NameValuePair } from '../protocol/name-value-pairs.js';
import { parseEndRequestBody } from '../protocol/record-bodies.js';
import { encodeRequest } from '../protocol/request-encoder.js';
import { type ExchangeFailure, exchangeRecords } from './record-exchange.js';

/** Stable codes for a failed one-shot request; callers branch on `code`, never on the message. */
export type FastCgiRequestErrorCode =
  /** No complete answer within the timeout (connect included). */
  | 'ERR_PROBE_TIMEOUT'
  /** The connection could not be made: refused, no socket file, permission denied… */
  | 'ERR_PROBE_CONNECT'
  /** The application sent bytes that are not a FastCGI response. */
  | 'ERR_PROBE_PROTOCOL'
  /** The connection closed or was reset before END_REQUEST. */
  | 'ERR_PROBE_CLOSED'
  /** The application refused the request in END_REQUEST (overloaded, cannot multiplex, role). */
  | 'ERR_PROBE_REJECTED'
  /** The request params cannot be encoded, or the response head exceeds MAX_CGI_HEAD_BYTES. */
  | 'ERR_PROBE_TOO_LARGE';

export class FastCgiRequestError extends CodedError<FastCgiRequestErrorCode> {
  override readonly name = 'FastCgiRequestError';
}

/**
 * Names and values are byte strings in the codec's latin1 convention (see name-value-pairs.ts):
 * pass text through utf8AsLatin1 first if it may hold non-ASCII characters, as
 * requestParamsFor (get-request-params.ts) does.
 */
export type FastCgiParams = ReadonlyArray<NameValuePair> | Readonly<Record<string, string>>;

export interface FastCgiRequest {
  readonly params: FastCgiParams;
  /** STDIN. When it is not empty and the params carry no CONTENT_LENGTH, one is added. */
  readonly body?: Buffer;
}

export interface FastCgiRequestOptions {
  /** Bound on the whole exchange, connect included. */
  readonly timeoutMs: number;
  /** Body (and stderr) bytes kept; the rest is read and dropped. 64 KiB unless told. */
  readonly maxBodyBytes?: number;
}

export interface FastCgiResponse {
  /** From the CGI `Status:` header; 200 without one (302 for a bare `Location:`). */
  readonly status: number;
  /** Header lines in order, `Status` excluded. */
  readonly headers: ReadonlyArray<readonly [name: string, value: string]>;
  /** The body, at most maxBodyBytes of it. */
  readonly body: Buffer;
  /** True when the application sent more body than maxBodyBytes. */
  readonly bodyTruncated: boolean;
  /** What the application wrote on FCGI_STDERR (UTF-8, at most maxBodyBytes of it). */
  readonly stderr: string;
  /** The application's exit status from END_REQUEST. */
  readonly appStatus: number;
}

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

/** The one request on the connection; without FCGI_KEEP_CONN the application closes after it. */
const REQUEST_ID = 1;

/**
 * Sends one request on a fresh connection and resolves with the application's whole answer
 * (up to END_REQUEST). No keep-alive: the connection is destroyed on every outcome, success,
 * error and timeout alike. Rejects with a FastCgiRequestError only.
 */
export function sendFastCgiRequest(
  address: ListenAddress,
  request: FastCgiRequest,
  options: FastCgiRequestOptions,
): Promise<FastCgiResponse> {
  const where = formatAddress(address);
  const { timeoutMs } = options;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;

  let encoded: Buffer;
  try {
    encoded = encodeRequest({
      requestId: REQUEST_ID,
      params: paramsWithContentLength(request.params, request.body),
      ...(request.body !== undefined ? { stdin: request.body } : {}),
    });
  } catch (error) {
    return Promise.reject(
      new FastCgiRequestError(
        'ERR_PROBE_TOO_LARGE',
        `cannot encode the request for ${where}: ${(error as Error).message}`,
        { cause: error },
      ),
    );
  }

  const answer = new AnswerCollector(maxBodyBytes);
  return exchangeRecords<FastCgiResponse | FastCgiRequestError>({
    address,
    // The application closes the connection after END_REQUEST (no FCGI_KEEP_CONN).
    bytes: encoded,
    timeoutMs,
    onRecord: (type, requestId, content) =>
      answer.record(type, requestId, content, where) ?? undefined,
    onFailure: (failure) => failureError(failure, where, timeoutMs, answer.outputBytes),
  }).then((outcome) => {
    if (outcome instanceof FastCgiRequestError) throw outcome;
    return outcome;
  });
}

/** The error for an exchange that ended before END_REQUEST. */
function failureError(
  failure: ExchangeFailure,
  where: string,
  timeoutMs: number,
  outputBytes: number,
): FastCgiRequestError {
  switch (failure.kind) {
    case 'timeout':
      return new FastCgiRequestError(
        'ERR_PROBE_TIMEOUT',
        !failure.connected
          ? `could not connect to ${where} within ${timeoutMs} ms`
          : outputBytes === 0
            ? `no answer from ${where} within ${timeoutMs} ms`
            : `no complete answer from ${where} within ${timeoutMs} ms (${outputBytes} bytes of output received)`,
      );
    case 'connect':
      return new FastCgiRequestError('ERR_PROBE_CONNECT', connectFailure(where, failure.error), {
        cause: failure.error,
      });
    case 'protocol':
      return new FastCgiRequestError(
        'ERR_PROBE_PROTOCOL',
        `${where} sent bytes that are not a FastCGI response: ${failure.error.message}`,
        { cause: failure.error },
      );
    case 'broken':
      return new FastCgiRequestError(
        'ERR_PROBE_CLOSED',
        `connection to ${where} failed before the end of the response: ${failure.error.code ?? failure.error.message}`,
        { cause: failure.error },
      );
    case 'closed':
      return new FastCgiRequestError(
        'ERR_PROBE_CLOSED',
        outputBytes === 0
          ? `${where} closed the connection without answering`
          : `${where} closed the connection before the end of the response (${outputBytes} bytes of output received)`,
      );
  }
}

/** Collects STDOUT and STDERR of the one request until END_REQUEST. */
class AnswerCollector {
  readonly #maxBodyBytes: number;
  /** STDOUT before the end of the CGI head has been seen. */
  #head: Buffer[] = [];
  #headBytes = 0;
  #parsedHead: { status: number; headers: FastCgiResponse['headers'] } | null = null;
  readonly #body: Buffer[] = [];
  #bodyBytes = 0;
  #bodyTruncated = false;
  readonly #stderr: Buffer[] = [];
  #stderrBytes = 0;
  /** STDOUT and STDERR bytes received, kept or not: for messages. */
  outputBytes = 0;

  constructor(maxBodyBytes: number) {
    this.#maxBodyBytes = maxBodyBytes;
  }

  /** Null while the answer goes on; the response or the error once it is decided. */
  record(
    type: number,
    requestId: number,
    content: Buffer,
    where: string,
  ): FastCgiResponse | FastCgiRequestError | null {
    if (requestId !== REQUEST_ID) {
      return protocolError(
        `${where} sent a record (type ${type}) for request ${requestId}; only request ${REQUEST_ID} was sent`,
      );
    }
    switch (type) {
      case RecordType.Stdout:
        this.outputBytes += content.length;
        return this.#stdout(content, where);
      case RecordType.Stderr:
        this.outputBytes += content.length;
        this.#stderrBytes = keep(this.#stderr, this.#stderrBytes, content, this.#maxBodyBytes);
        return null;
      case RecordType.EndRequest:
        return this.#end(content, where);
      default:
        return protocolError(`${where} sent a record of type ${type}, which a response never has`);
    }
  }

  #stdout(content: Buffer, where: string): FastCgiRequestError | null {
    if (content.length === 0) return null; // end of the STDOUT stream
    if (this.#parsedHead !== null) {
      this.#keepBody(content);
      return null;
    }
    this.#head.push(Buffer.from(content));
    this.#headBytes += content.length;
    const bytes = Buffer.concat(this.#head, this.#headBytes);
    const head = parseCgiResponseHead(bytes);
    if (head === null) {
      if (this.#headBytes <= MAX_CGI_HEAD_BYTES) {
        this.#head = [bytes];
        return null;
      }
      return new FastCgiRequestError(
        'ERR_PROBE_TOO_LARGE',
        `${where} sent ${this.#headBytes} bytes without ending the CGI response head (the limit is ${MAX_CGI_HEAD_BYTES})`,
      );
    }
    this.#parsedHead = { status: head.status, headers: head.headers };
    this.#head = [];
    this.#keepBody(bytes.subarray(head.bodyOffset));
    return null;
  }

  #keepBody(bytes: Buffer): void {
    const before = this.#bodyBytes;
    this.#bodyBytes = keep(this.#body, before, bytes, this.#maxBodyBytes);
    if (this.#bodyBytes - before < bytes.length) this.#bodyTruncated = true;
  }

  #end(content: Buffer, where: string): FastCgiResponse | FastCgiRequestError {
    let end: ReturnType<typeof parseEndRequestBody>;
    try {
      end = parseEndRequestBody(content);
    } catch (error) {
      return protocolError(`${where} sent a malformed END_REQUEST: ${(error as Error).message}`);
    }
    if (end.protocolStatus !== ProtocolStatus.RequestComplete) {
      return new FastCgiRequestError(
        'ERR_PROBE_REJECTED',
        `${where} refused the request: ${protocolStatusName(end.protocolStatus)}`,
      );
    }
    const head = this.#parsedHead;
    if (head === null) {
      const stderr = this.#stderrText();
      return protocolError(
        this.#headBytes === 0
          ? `${where} ended the request without any output${stderr === '' ? '' : ` (stderr: ${stderr.slice(0, 200)})`}`
          : `${where} ended the request without completing the CGI response head`,
      );
    }
    return {
      status: head.status,
      headers: head.headers,
      body: Buffer.concat(this.#body, this.#bodyBytes),
      bodyTruncated: this.#bodyTruncated,
      stderr: this.#stderrText(),
      appStatus: end.appStatus,
    };
  }

  #stderrText(): string {
    return Buffer.concat(this.#stderr, this.#stderrBytes).toString('utf8');
  }
}

/** Appends (a copy of) as much of `bytes` as fits under `max`; returns the new total. */
function keep(chunks: Buffer[], total: number, bytes: Buffer, max: number): number {
  const take = Math.min(bytes.length, max - total);
  if (take <= 0) return total;
  chunks.push(Buffer.from(bytes.subarray(0, take)));
  return total + take;
}

function protocolError(message: string): FastCgiRequestError {
  return new FastCgiRequestError('ERR_PROBE_PROTOCOL', message);
}

function protocolStatusName(status: number): string {
  switch (status) {
    case ProtocolStatus.CantMultiplexConnections:
      return 'FCGI_CANT_MPX_CONN';
    case ProtocolStatus.Overloaded:
      return 'FCGI_OVERLOADED';
    case ProtocolStatus.UnknownRole:
      return 'FCGI_UNKNOWN_ROLE';
    default:
      return `protocol status ${status}`;
  }
}

function connectFailure(where: string, error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ECONNREFUSED':
      return `connection refused on ${where}`;
    case 'ENOENT':
      return `no socket at ${where} (ENOENT)`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied connecting to ${where} (${error.code})`;
    case 'ENOTSOCK':
      return `${where} is not a socket (ENOTSOCK)`;
    default:
      return `cannot connect to ${where}: ${error.code ?? error.message}`;
  }
}

function paramsWithContentLength(
  params: FastCgiParams,
  body: Buffer | undefined,
): readonly NameValuePair[] {
  const pairs = pairsOf(params);
  if (body === undefined || body.length === 0) return pairs;
  if (pairs.some(([name]) => name === 'CONTENT_LENGTH')) return pairs;
  return [...pairs, ['CONTENT_LENGTH', String(body.length)]];
}

/** The params as a list of pairs, in order. */
export function pairsOf(params: FastCgiParams): ReadonlyArray<NameValuePair> {
  return isPairList(params) ? params : Object.entries(params);
}

function isPairList(params: FastCgiParams): params is ReadonlyArray<NameValuePair> {
  return Array.isArray(params);
}

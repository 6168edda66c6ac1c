import { connect, type Socket } from 'node:net';
import { type CgiResponseHead, parseCgiResponseHead } from '../../src/protocol/cgi-response.js';
import { RecordType } from '../../src/protocol/constants.js';
import type { NameValuePair } from '../../src/protocol/name-value-pairs.js';
import { parseEndRequestBody } from '../../src/protocol/record-bodies.js';
import { RecordDecoder } from '../../src/protocol/record-decoder.js';
import { encodeRequest } from '../../src/protocol/request-encoder.js';

export interface FcgiResponse {
  readonly status: number;
  readonly headers: CgiResponseHead['headers'];
  readonly body: Buffer;
  readonly stderr: string;
  readonly appStatus: number;
  readonly protocolStatus: number;
}

export interface FcgiRequest {
  readonly params: Iterable<NameValuePair>;
  readonly stdin?: Buffer;
}

/**
 * A FastCGI client built on the project's own codec, as the tests' web server: it sends one
 * request at a time with FCGI_KEEP_CONN, so several requests can share the connection.
 */
export class FcgiTestConnection {
  readonly #socket: Socket;
  readonly #decoder: RecordDecoder;
  #nextId = 1;
  #pending: {
    requestId: number;
    stdout: Buffer[];
    stderr: Buffer[];
    resolve: (response: FcgiResponse) => void;
    reject: (error: Error) => void;
  } | null = null;

  private constructor(socket: Socket) {
    this.#socket = socket;
    this.#decoder = new RecordDecoder((type, requestId, content) => {
      const pending = this.#pending;
      if (pending === null || requestId !== pending.requestId) return;
      if (type === RecordType.Stdout) pending.stdout.push(Buffer.from(content));
      else if (type === RecordType.Stderr) pending.stderr.push(Buffer.from(content));
      else if (type === RecordType.EndRequest) {
        this.#pending = null;
        try {
          pending.resolve(toResponse(pending.stdout, pending.stderr, content));
        } catch (error) {
          pending.reject(error as Error);
        }
      }
    });
    socket.on('data', (chunk) => {
      try {
        this.#decoder.write(chunk);
      } catch (error) {
        this.#fail(error as Error);
      }
    });
    socket.on('error', (error) => this.#fail(error));
    socket.on('close', () => this.#fail(new Error('connection closed before END_REQUEST')));
  }

  static open(socketPath: string): Promise<FcgiTestConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(socketPath);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new FcgiTestConnection(socket));
      });
    });
  }

  request(request: FcgiRequest): Promise<FcgiResponse> {
    if (this.#pending !== null) throw new Error('one request at a time on a test connection');
    const requestId = this.#nextId;
    this.#nextId = (this.#nextId % 0xffff) + 1;
    return new Promise((resolve, reject) => {
      this.#pending = { requestId, stdout: [], stderr: [], resolve, reject };
      this.#socket.write(
        encodeRequest({
          requestId,
          params: request.params,
          keepConn: true,
          ...(request.stdin ? { stdin: request.stdin } : {}),
        }),
      );
    });
  }

  close(): void {
    this.#socket.destroy();
  }

  #fail(error: Error): void {
    const pending = this.#pending;
    this.#pending = null;
    pending?.reject(error);
  }
}

function toResponse(stdout: Buffer[], stderr: Buffer[], endBody: Buffer): FcgiResponse {
  const bytes = Buffer.concat(stdout);
  const head = parseCgiResponseHead(bytes);
  if (head === null)
    throw new Error(`response without a CGI head: ${bytes.toString('latin1', 0, 200)}`);
  const end = parseEndRequestBody(endBody);
  return {
    status: head.status,
    headers: head.headers,
    body: bytes.subarray(head.bodyOffset),
    stderr: Buffer.concat(stderr).toString('utf8'),
    appStatus: end.appStatus,
    protocolStatus: end.protocolStatus,
  };
}

/** One request on a fresh connection. */
export async function fcgiExchange(
  socketPath: string,
  request: FcgiRequest,
): Promise<FcgiResponse> {
  const connection = await FcgiTestConnection.open(socketPath);
  try {
    return await connection.request(request);
  } finally {
    connection.close();
  }
}

/** The params nginx's fastcgi_params sends for a PHP script, trimmed to what PHP reads. */
export function phpParams(
  documentRoot: string,
  uri: string,
  extra: Record<string, string> = {},
): NameValuePair[] {
  const [path = '/', query = ''] = uri.split('?', 2);
  const params: Record<string, string> = {
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_SOFTWARE: 'switchyard-test',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REQUEST_METHOD: 'GET',
    REQUEST_URI: uri,
    DOCUMENT_URI: path,
    SCRIPT_NAME: path,
    SCRIPT_FILENAME: `${documentRoot}${path}`,
    DOCUMENT_ROOT: documentRoot,
    QUERY_STRING: query,
    REMOTE_ADDR: '127.0.0.1',
    REMOTE_PORT: '50000',
    SERVER_ADDR: '127.0.0.1',
    SERVER_PORT: '80',
    SERVER_NAME: 'localhost',
    REDIRECT_STATUS: '200',
    ...extra,
  };
  return Object.entries(params);
}

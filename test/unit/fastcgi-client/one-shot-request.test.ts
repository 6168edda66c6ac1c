// sendFastCgiRequest against real FastCGI servers scripted in this file, each answering the
// way a test needs: in pieces split at every byte (the header split that crashes the
// fastcgi-client package), never, half, with garbage, or with too much.
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { setImmediate as immediate } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ListenAddress } from '../../../src/config/address.js';
import { requestParamsFor } from '../../../src/fastcgi-client/get-request-params.js';
import {
  FastCgiRequestError,
  sendFastCgiRequest,
} from '../../../src/fastcgi-client/one-shot-request.js';
import { ProtocolStatus, RecordType } from '../../../src/protocol/constants.js';
import {
  decodeNameValuePairs,
  type NameValuePair,
} from '../../../src/protocol/name-value-pairs.js';
import {
  encodeEndRequestBody,
  parseBeginRequestBody,
} from '../../../src/protocol/record-bodies.js';
import { RecordDecoder } from '../../../src/protocol/record-decoder.js';
import { encodeRecord, encodeStream } from '../../../src/protocol/record-encoder.js';
import { makeTempDir } from '../../support/temp-dir.js';
import { waitFor } from '../../support/wait-for.js';

interface ReceivedRequest {
  readonly keepConn: boolean;
  readonly params: NameValuePair[];
  readonly stdin: Buffer;
}

/** What a scripted server does once a request's STDIN has ended. */
type Responder = (socket: Socket, request: ReceivedRequest) => void | Promise<void>;

interface ScriptedServer {
  readonly address: ListenAddress;
  readonly requests: ReceivedRequest[];
  /** Connections accepted, and how many of those have closed. */
  readonly stats: { accepted: number; closed: number };
  close(): Promise<void>;
}

const servers: ScriptedServer[] = [];
let dir: { path: string; remove: () => void };
let serverCount = 0;

beforeEach(() => {
  dir = makeTempDir('fcgireq');
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
  dir.remove();
});

/** A FastCGI application on a unix socket that reads one request and calls `respond`. */
async function startServer(respond: Responder): Promise<ScriptedServer> {
  serverCount += 1;
  const path = join(dir.path, `app-${serverCount}.sock`);
  const sockets = new Set<Socket>();
  const requests: ReceivedRequest[] = [];
  const stats = { accepted: 0, closed: 0 };
  const server: Server = createServer((socket) => {
    stats.accepted += 1;
    sockets.add(socket);
    socket.on('close', () => {
      stats.closed += 1;
      sockets.delete(socket);
    });
    socket.on('error', () => {});
    let keepConn = true;
    const params: Buffer[] = [];
    const stdin: Buffer[] = [];
    const decoder = new RecordDecoder((type, _requestId, content) => {
      if (type === RecordType.BeginRequest) keepConn = parseBeginRequestBody(content).keepConn;
      else if (type === RecordType.Params) params.push(Buffer.from(content));
      else if (type === RecordType.Stdin && content.length > 0) stdin.push(Buffer.from(content));
      else if (type === RecordType.Stdin) {
        const request = {
          keepConn,
          params: decodeNameValuePairs(Buffer.concat(params)),
          stdin: Buffer.concat(stdin),
        };
        requests.push(request);
        void respond(socket, request);
      }
    });
    socket.on('data', (chunk: Buffer) => decoder.write(chunk));
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const scripted: ScriptedServer = {
    address: { kind: 'unix', path },
    requests,
    stats,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  servers.push(scripted);
  return scripted;
}

const HEAD = 'Status: 201 Created\r\nContent-Type: text/plain\r\nX-Probe: yes\r\n\r\n';

/**
 * An answer with everything a client must cope with: the CGI head over two STDOUT records,
 * STDERR between STDOUT records, padded records, a non-zero app status, and records (plus a
 * bad one) after END_REQUEST that must be ignored.
 */
const RICH_ANSWER = Buffer.concat([
  encodeRecord(RecordType.Stdout, 1, Buffer.from(HEAD.slice(0, 20))),
  encodeRecord(RecordType.Stdout, 1, Buffer.from(`${HEAD.slice(20)}hello `)),
  encodeRecord(RecordType.Stderr, 1, Buffer.from('PHP Warning: something\n')),
  encodeRecord(RecordType.Stdout, 1, Buffer.from('world')),
  encodeRecord(RecordType.Stdout, 1),
  encodeRecord(RecordType.Stderr, 1),
  encodeRecord(RecordType.EndRequest, 1, encodeEndRequestBody(3, ProtocolStatus.RequestComplete)),
  encodeRecord(RecordType.Stdout, 1, Buffer.from('late')),
  encodeRecord(RecordType.EndRequest, 1, encodeEndRequestBody(9, ProtocolStatus.Overloaded)),
  Buffer.from('garbage after the end'),
]);

const RICH_RESPONSE = {
  status: 201,
  headers: [
    ['Content-Type', 'text/plain'],
    ['X-Probe', 'yes'],
  ],
  body: Buffer.from('hello world'),
  bodyTruncated: false,
  stderr: 'PHP Warning: something\n',
  appStatus: 3,
};

/** Writes `chunks` one by one, letting the client read each before the next is sent. */
async function writeApart(socket: Socket, chunks: readonly Buffer[]): Promise<void> {
  for (const chunk of chunks) {
    if (socket.destroyed) return;
    await new Promise<void>((resolve) => socket.write(chunk, () => resolve()));
    // Client and server share this process, and the bytes are in the kernel now. The second
    // check phase from here comes after a whole poll phase, in which the client's socket is
    // readable and reads them: each chunk is a read of its own (a timer does not promise that).
    await immediate();
    await immediate();
  }
}

function answer(body: string | Buffer, head = 'Content-Type: text/plain\r\n\r\n'): Buffer {
  return Buffer.concat([
    encodeStream(RecordType.Stdout, 1, Buffer.concat([Buffer.from(head), Buffer.from(body)]), true),
    encodeRecord(RecordType.EndRequest, 1, encodeEndRequestBody(0, ProtocolStatus.RequestComplete)),
  ]);
}

const PARAMS = requestParamsFor('/srv/app', '/ping');

describe('sendFastCgiRequest', () => {
  it('reads an answer split into two reads at every byte boundary, header splits included', async () => {
    let split = 0;
    const server = await startServer((socket) =>
      writeApart(socket, [RICH_ANSWER.subarray(0, split), RICH_ANSWER.subarray(split)]),
    );
    for (split = 1; split < RICH_ANSWER.length; split += 1) {
      const response = await sendFastCgiRequest(
        server.address,
        { params: PARAMS },
        { timeoutMs: 2_000 },
      );
      expect(response, `split at byte ${split}`).toEqual(RICH_RESPONSE);
    }
    // Every connection was closed by the client (the server never closes one itself).
    await waitFor(() => server.stats.closed === RICH_ANSWER.length - 1, {
      timeoutMs: 2_000,
      what: 'every connection to close',
    });
  });

  it('reads an answer arriving one byte per read', async () => {
    const bytes = [...RICH_ANSWER].map((byte) => Buffer.from([byte]));
    const server = await startServer((socket) => writeApart(socket, bytes));
    const response = await sendFastCgiRequest(
      server.address,
      { params: PARAMS },
      { timeoutMs: 10_000 },
    );
    expect(response).toEqual(RICH_RESPONSE);
  });

  it('sends one request without FCGI_KEEP_CONN, its params, and its body with CONTENT_LENGTH', async () => {
    const server = await startServer((socket) => {
      socket.write(answer('ok', 'Content-Type: text/plain\r\n\r\n'));
    });
    const response = await sendFastCgiRequest(
      server.address,
      {
        params: { REQUEST_METHOD: 'POST', SCRIPT_NAME: '/form' },
        body: Buffer.from('a=1&b=2'),
      },
      { timeoutMs: 2_000 },
    );
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('ok');
    expect(server.requests).toEqual([
      {
        keepConn: false,
        params: [
          ['REQUEST_METHOD', 'POST'],
          ['SCRIPT_NAME', '/form'],
          ['CONTENT_LENGTH', '7'],
        ],
        stdin: Buffer.from('a=1&b=2'),
      },
    ]);
  });

  it('keeps at most maxBodyBytes of the body but reads on to END_REQUEST', async () => {
    const big = Buffer.alloc(200_000, 0x61);
    const server = await startServer((socket) => {
      socket.write(
        Buffer.concat([
          encodeStream(RecordType.Stdout, 1, Buffer.from('Status: 200\r\n\r\n')),
          encodeStream(RecordType.Stdout, 1, big),
          encodeStream(RecordType.Stderr, 1, Buffer.alloc(100_000, 0x62), true),
          encodeRecord(RecordType.Stdout, 1),
          encodeRecord(
            RecordType.EndRequest,
            1,
            encodeEndRequestBody(5, ProtocolStatus.RequestComplete),
          ),
        ]),
      );
    });
    const capped = await sendFastCgiRequest(
      server.address,
      { params: PARAMS },
      { timeoutMs: 5_000, maxBodyBytes: 1_000 },
    );
    expect(capped.body).toEqual(big.subarray(0, 1_000));
    expect(capped.bodyTruncated).toBe(true);
    expect(capped.stderr).toBe('b'.repeat(1_000));
    expect(capped.appStatus).toBe(5);

    const byDefault = await sendFastCgiRequest(
      server.address,
      { params: PARAMS },
      { timeoutMs: 5_000 },
    );
    expect(byDefault.body.length).toBe(64 * 1024);
    expect(byDefault.bodyTruncated).toBe(true);
  });

  it('defaults the status to 200, and takes a bare Location as a 302', async () => {
    let head = 'Content-Type: text/html\r\n\r\n';
    const server = await startServer((socket) => {
      socket.write(answer('x', head));
    });
    const plain = await sendFastCgiRequest(
      server.address,
      { params: PARAMS },
      { timeoutMs: 2_000 },
    );
    expect(plain.status).toBe(200);
    head = 'Location: /elsewhere\n\n';
    const redirect = await sendFastCgiRequest(
      server.address,
      { params: PARAMS },
      { timeoutMs: 2_000 },
    );
    expect(redirect.status).toBe(302);
  });

  it('times out within the bound on a server that accepts and never answers, and closes the socket', async () => {
    const server = await startServer(() => {});
    const started = performance.now();
    const error = await sendFastCgiRequest(
      server.address,
      { params: PARAMS },
      { timeoutMs: 200 },
    ).catch((e: unknown) => e);
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(FastCgiRequestError);
    expect(error).toMatchObject({
      code: 'ERR_PROBE_TIMEOUT',
      message: `no answer from unix:${server.address.kind === 'unix' ? server.address.path : ''} within 200 ms`,
    });
    expect(elapsed).toBeGreaterThanOrEqual(195);
    expect(elapsed).toBeLessThan(200 + 500);
    await waitFor(() => server.stats.accepted === 1 && server.stats.closed === 1, {
      timeoutMs: 2_000,
      what: 'the client to close the timed-out connection',
    });
  });

  it('says how much had arrived when a partial answer times out', async () => {
    const server = await startServer((socket) => {
      socket.write(encodeStream(RecordType.Stdout, 1, Buffer.from('Status: 200\r\n')));
    });
    await expect(
      sendFastCgiRequest(server.address, { params: PARAMS }, { timeoutMs: 200 }),
    ).rejects.toMatchObject({
      code: 'ERR_PROBE_TIMEOUT',
      message: expect.stringMatching(
        /no complete answer from unix:.* within 200 ms \(13 bytes of output received\)$/,
      ),
    });
    await waitFor(() => server.stats.closed === 1, {
      timeoutMs: 2_000,
      what: 'the client to close the connection',
    });
  });

  it('reports a refused connection', async () => {
    // A port that was free a moment ago: nothing listens on it.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    await expect(
      sendFastCgiRequest(
        { kind: 'tcp', host: '127.0.0.1', port },
        { params: PARAMS },
        { timeoutMs: 2_000 },
      ),
    ).rejects.toMatchObject({
      code: 'ERR_PROBE_CONNECT',
      message: `connection refused on 127.0.0.1:${port}`,
    });
  });

  it('reports a missing socket file', async () => {
    const path = join(dir.path, 'nobody-here.sock');
    await expect(
      sendFastCgiRequest({ kind: 'unix', path }, { params: PARAMS }, { timeoutMs: 2_000 }),
    ).rejects.toMatchObject({
      code: 'ERR_PROBE_CONNECT',
      message: `no socket at unix:${path} (ENOENT)`,
    });
  });

  it('fails with ERR_PROBE_CLOSED when the connection closes before END_REQUEST', async () => {
    const half = await startServer((socket) => {
      socket.end(encodeStream(RecordType.Stdout, 1, Buffer.from(`${HEAD}partial body`)));
    });
    await expect(
      sendFastCgiRequest(half.address, { params: PARAMS }, { timeoutMs: 2_000 }),
    ).rejects.toMatchObject({
      code: 'ERR_PROBE_CLOSED',
      message: expect.stringMatching(/closed the connection before the end of the response/),
    });

    const silent = await startServer((socket) => {
      socket.end();
    });
    await expect(
      sendFastCgiRequest(silent.address, { params: PARAMS }, { timeoutMs: 2_000 }),
    ).rejects.toMatchObject({
      code: 'ERR_PROBE_CLOSED',
      message: expect.stringMatching(/closed the connection without answering/),
    });
  });

  it('fails with ERR_PROBE_PROTOCOL on garbage bytes, and closes the socket', async () => {
    const server = await startServer((socket) => {
      socket.write('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
    });
    await expect(
      sendFastCgiRequest(server.address, { params: PARAMS }, { timeoutMs: 2_000 }),
    ).rejects.toMatchObject({
      code: 'ERR_PROBE_PROTOCOL',
      message: expect.stringMatching(/sent bytes that are not a FastCGI response: .*version 72/),
    });
    await waitFor(() => server.stats.closed === 1, {
      timeoutMs: 2_000,
      what: 'the client to close the connection',
    });
  });

  it('fails with ERR_PROBE_PROTOCOL on records a response never has', async () => {
    let reply = encodeRecord(RecordType.Stdout, 7, Buffer.from(HEAD));
    const server = await startServer((socket) => {
      socket.write(reply);
    });
    await expect(
      sendFastCgiRequest(server.address, { params: PARAMS }, { timeoutMs: 2_000 }),
    ).rejects.toMatchObject({
      code: 'ERR_PROBE_PROTOCOL',
      message: expect.stringMatching(/for request 7; only request 1 was sent/),
    });
    reply = encodeRecord(RecordType.Params, 1, Buffer.from('x'));
    await expect(
      sendFastCgiRequest(server.address, { params: PARAMS }, { timeoutMs: 2_000 }),
    ).rejects.toMatchObject({ code: 'ERR_PROBE_PROTOCOL', message: /type 4/ });
    reply = encodeRecord(
      RecordType.EndRequest,
      1,
      encodeEndRequestBody(0, ProtocolStatus.RequestComplete),
    );
    await expect(
      sendFastCgiRequest(server.address, { params: PARAMS }, { timeoutMs: 2_000 }),
    ).rejects.toMatchObject({ code: 'ERR_PROBE_PROTOCOL', message: /without any output/ });
    reply = encodeRecord(RecordType.EndRequest, 1, Buffer.alloc(3));
    await expect(
      sendFastCgiRequest(server.address, { params: PARAMS }, { timeoutMs: 2_000 }),
    ).rejects.toMatchObject({ code: 'ERR_PROBE_PROTOCOL', message: /malformed END_REQUEST/ });
  });

  it('fails with ERR_PROBE_REJECTED when END_REQUEST refuses the request', async () => {
    const server = await startServer((socket) => {
      socket.write(
        encodeRecord(RecordType.EndRequest, 1, encodeEndRequestBody(0, ProtocolStatus.Overloaded)),
      );
    });
    await expect(
      sendFastCgiRequest(server.address, { params: PARAMS }, { timeoutMs: 2_000 }),
    ).rejects.toMatchObject({ code: 'ERR_PROBE_REJECTED', message: /FCGI_OVERLOADED/ });
  });

  it('fails with ERR_PROBE_TOO_LARGE on a head that never ends, and on params it cannot send', async () => {
    const server = await startServer((socket) => {
      socket.write(encodeStream(RecordType.Stdout, 1, Buffer.alloc(70_000, 0x41), true));
    });
    await expect(
      sendFastCgiRequest(server.address, { params: PARAMS }, { timeoutMs: 2_000 }),
    ).rejects.toMatchObject({ code: 'ERR_PROBE_TOO_LARGE', message: /CGI response head/ });
    await expect(
      sendFastCgiRequest(
        server.address,
        { params: [['HUGE', 'x'.repeat(70_000)]] },
        { timeoutMs: 2_000 },
      ),
    ).rejects.toMatchObject({ code: 'ERR_PROBE_TOO_LARGE', message: /cannot encode the request/ });
    // The refused request never connected.
    expect(server.stats.accepted).toBe(1);
  });
});

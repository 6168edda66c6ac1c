// The per-client limits of the fronts (issue 10, findings 1 and 5), on the real daemon:
// connections per front, requests per FastCGI connection, the params and idle timeouts, and a
// graceful stop that does not wait for a client whose params never end. Each test also shows
// that a client doing nothing wrong is served.
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { ProtocolStatus, RecordType } from '../../src/protocol/constants.js';
import { encodeNameValuePairs } from '../../src/protocol/name-value-pairs.js';
import { parseEndRequestBody } from '../../src/protocol/record-bodies.js';
import { encodeRecord } from '../../src/protocol/record-encoder.js';
import { fcgiExchange, phpParams } from '../support/fcgi-exchange.js';
import { type LimitsDaemon, startLimitsDaemon } from '../support/limits-daemon.js';
import { RawFcgiClient } from '../support/raw-fcgi-client.js';
import { finishRequest, responseOf, unfinishedRequest } from '../support/raw-fcgi-records.js';
import { waitFor } from '../support/wait-for.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function daemonWith(
  label: string,
  limits: readonly string[],
  demoEnv?: Record<string, string>,
): Promise<LimitsDaemon> {
  const daemon = await startLimitsDaemon({
    label,
    limits,
    ...(demoEnv === undefined ? {} : { demoEnv }),
  });
  cleanups.push(() => daemon.cleanup());
  return daemon;
}

async function open(daemon: LimitsDaemon): Promise<RawFcgiClient> {
  const client = await RawFcgiClient.open(daemon.fastcgiSocket);
  cleanups.push(() => client.destroy());
  return client;
}

async function expectServed(daemon: LimitsDaemon): Promise<void> {
  const response = await fcgiExchange(daemon.fastcgiSocket, {
    params: phpParams(daemon.release, '/release.json'),
  });
  expect(response.status).toBe(200);
  expect(JSON.parse(response.body.toString()).release).toBe('v1');
}

function tcp(
  port: number,
): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    cleanups.push(() => socket.destroy());
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => {});
      resolve({ socket, received: () => received, closed });
    });
  });
}

/** `promise`, or a timeout error naming `what` after `timeoutMs`. */
function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let done = false;
  const settled = promise.finally(() => {
    done = true;
  });
  return Promise.race([settled, waitFor(() => done, { timeoutMs, what }).then(() => settled)]);
}

/** The END_REQUEST of request `id`: its protocol status. */
async function endOf(client: RawFcgiClient, id: number): Promise<number> {
  const end = await client.waitForRecord(
    (r) => r.type === RecordType.EndRequest && r.requestId === id,
    `END_REQUEST for request ${id}`,
  );
  return parseEndRequestBody(end.content).protocolStatus;
}

describe('client limits of the fronts (real daemon)', () => {
  it('max_connections: the FastCGI front refuses a connection beyond it while every one is busy, and makes room from idle ones', async () => {
    const daemon = await daemonWith('lim-fcgi-conns', ['max_connections = 4']);
    const held = await Promise.all([0, 1, 2, 3].map(() => open(daemon)));
    // Each held connection has a request in progress: none can make room.
    const params = phpParams(daemon.release, '/release.json');
    for (const client of held) {
      // Records are read in order: once GET_VALUES is answered, the request has begun.
      client.send(
        Buffer.concat([
          unfinishedRequest(1, params),
          encodeRecord(RecordType.GetValues, 0, encodeNameValuePairs([['FCGI_MAX_CONNS', '']])),
        ]),
      );
      await client.waitForRecord((r) => r.type === RecordType.GetValuesResult, 'GET_VALUES_RESULT');
    }
    // FastCGI: accepted and closed at once, nothing written.
    const extra = await Promise.all(Array.from({ length: 10 }, () => open(daemon)));
    for (const client of extra) await client.waitForClose(5_000);
    expect(extra.every((client) => client.records.length === 0)).toBe(true);
    // One line for the ten, with their count (the first logged at once, the rest later).
    const lines = await waitFor(() => daemon.logged('ERR_TOO_MANY_CONNECTIONS'), {
      timeoutMs: 5_000,
      what: 'the refused connections to be logged',
    });
    expect(lines.length).toBeLessThanOrEqual(2);
    expect(lines[0]).toMatchObject({ count: 1, limit: 4, made_room: false });
    // The held connections still work.
    const first = held[0] as RawFcgiClient;
    first.send(finishRequest(1));
    expect(await endOf(first, 1)).toBe(ProtocolStatus.RequestComplete);
    expect(responseOf(first.records, 1).status).toBe(200);
    // Now the first is idle (answered, kept open): a newcomer takes its place and is served;
    // the idle one is let go, the busy ones are not touched.
    await expectServed(daemon);
    await first.waitForClose(5_000);
    for (const client of held.slice(1)) {
      client.send(finishRequest(1));
      expect(await endOf(client, 1)).toBe(ProtocolStatus.RequestComplete);
    }
  });

  it('max_connections: connections that sit silent or trickle bytes cannot lock the web server out', async () => {
    const daemon = await daemonWith('lim-fcgi-squat', [
      'max_connections = 4',
      'client_idle_timeout = "1s"',
    ]);
    const silent = await Promise.all([0, 1].map(() => open(daemon)));
    const tricklers = await Promise.all([0, 1].map(() => open(daemon)));
    // One byte of a record header every 100 ms: never a whole record.
    let sent = 0;
    const trickle = setInterval(() => {
      sent += 1;
      for (const client of tricklers) client.send(Buffer.from([1]));
    }, 100);
    try {
      await waitFor(() => sent >= 3, { timeoutMs: 5_000, what: 'some bytes trickled' });
      // The table is full of them: a web server's connection still gets in, at once.
      await expectServed(daemon);
      // And idleness counts from the last whole record, so trickling does not keep one open.
      for (const client of [...silent, ...tricklers]) await client.waitForClose(5_000);
    } finally {
      clearInterval(trickle);
    }
  });

  it('max_connections: the HTTP front answers a connection beyond it 503 while every one is busy', async () => {
    const daemon = await daemonWith('lim-http-conns', ['max_connections = 4']);
    // Four connections each with a request in progress (the app sleeps).
    const busy = await Promise.all([0, 1, 2, 3].map(() => tcp(daemon.httpPort)));
    for (const held of busy) {
      held.socket.write('GET /sleep?ms=3000 HTTP/1.1\r\nHost: localhost\r\n\r\n');
    }
    await waitFor(async () => (await daemon.inFlight()) === 4, {
      timeoutMs: 5_000,
      what: 'four requests in flight',
    });
    const refused = await tcp(daemon.httpPort);
    refused.socket.write('GET /release.json HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await within(refused.closed, 5_000, 'the refused connection to be closed');
    expect(refused.received()).toMatch(/^HTTP\/1\.1 503 /);
    expect(refused.received()).toMatch(/\r\nRetry-After: 1\r\n/i);
    // The busy ones were not touched: each gets its answer.
    for (const held of busy) {
      await waitFor(() => /^HTTP\/1\.1 200 /.test(held.received()), {
        timeoutMs: 10_000,
        what: 'the held request to be answered',
      });
    }
  });

  it('max_connections: silent HTTP connections make room for a good client and are closed when idle', async () => {
    const daemon = await daemonWith('lim-http-silent', [
      'max_connections = 4',
      'client_idle_timeout = "1s"',
    ]);
    const silent = await Promise.all([0, 1, 2, 3].map(() => tcp(daemon.httpPort)));
    const response = await fetch(`${daemon.httpUrl}/release.json`, {
      headers: { connection: 'close' },
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { release: string }).release).toBe('v1');
    for (const each of silent) await within(each.closed, 5_000, 'a silent connection to be closed');
  });

  it('requests_per_connection: a further BEGIN_REQUEST is answered FCGI_CANT_MPX_CONN, the others go on', async () => {
    const daemon = await daemonWith('lim-mpx', ['requests_per_connection = 2']);
    const client = await open(daemon);
    const params = phpParams(daemon.release, '/release.json');
    client.send(Buffer.concat([unfinishedRequest(1, params), unfinishedRequest(2, params)]));
    client.send(unfinishedRequest(3, params));
    expect(await endOf(client, 3)).toBe(ProtocolStatus.CantMultiplexConnections);
    // Nothing else happened: the two begun requests finish and are served on the connection.
    client.send(Buffer.concat([finishRequest(1), finishRequest(2)]));
    expect(await endOf(client, 1)).toBe(ProtocolStatus.RequestComplete);
    expect(await endOf(client, 2)).toBe(ProtocolStatus.RequestComplete);
    expect(responseOf(client.records, 1).status).toBe(200);
    expect(responseOf(client.records, 2).status).toBe(200);
    expect(client.records.some((r) => r.requestId === 3 && r.type === RecordType.Stdout)).toBe(
      false,
    );
    // A request id freed by its answer can be used again.
    client.send(Buffer.concat([unfinishedRequest(3, params), finishRequest(3)]));
    await waitFor(
      () =>
        client.records.filter((r) => r.type === RecordType.EndRequest && r.requestId === 3)
          .length === 2,
      { timeoutMs: 5_000, what: 'the second request 3 to be answered' },
    );
    expect(client.closed).toBe(false);
    await expectServed(daemon);
  });

  it('params_timeout and client_idle_timeout close stuck and silent connections, not busy ones', async () => {
    const daemon = await daemonWith('lim-time', [
      'params_timeout = "1s"',
      'client_idle_timeout = "1s"',
    ]);
    const started = performance.now();
    // Params that never end.
    const stuck = await open(daemon);
    stuck.send(unfinishedRequest(1, phpParams(daemon.release, '/release.json')));
    // A connection that never sends anything.
    const silent = await open(daemon);
    // A kept-alive connection whose request takes longer than the idle timeout: in progress,
    // so not idle; once answered, it is idle and let go.
    const busy = await open(daemon);
    busy.send(
      Buffer.concat([
        unfinishedRequest(1, phpParams(daemon.release, '/sleep?ms=2500')),
        finishRequest(1),
      ]),
    );
    await stuck.waitForClose(10_000);
    await silent.waitForClose(10_000);
    // Not at once: after their timeouts.
    expect(performance.now() - started).toBeGreaterThan(900);
    expect(busy.closed).toBe(false);
    expect(await endOf(busy, 1)).toBe(ProtocolStatus.RequestComplete);
    expect(responseOf(busy.records, 1).status).toBe(200);
    await busy.waitForClose(10_000);
    expect(daemon.logged('ERR_PARAMS_TIMEOUT')[0]).toMatchObject({ timeoutMs: 1_000 });
    await expectServed(daemon);
  });

  it('SIGTERM: a client whose params never end is closed at once, in-flight requests finish, exit 0', async () => {
    // Long timeouts: only the stop itself may end the stuck client here.
    const daemon = await daemonWith(
      'lim-stop',
      ['params_timeout = "60s"', 'request_timeout = "30s"'],
      { DEMO_ACCESS_LOG: '1' },
    );
    const stuck = await open(daemon);
    stuck.send(unfinishedRequest(1, phpParams(daemon.release, '/release.json')));
    const inFlight = fcgiExchange(daemon.fastcgiSocket, {
      params: phpParams(daemon.release, '/sleep?ms=1500'),
    });
    await waitFor(() => daemon.apps.some((app) => app.stderr().includes('/sleep?ms=1500')), {
      timeoutMs: 5_000,
      what: 'the request to reach a replica',
    });
    const signalled = performance.now();
    daemon.switchyard.child.kill('SIGTERM');
    await stuck.waitForClose(3_000);
    const answered = await inFlight;
    expect(answered.status).toBe(200);
    const code = await within(daemon.switchyard.exited, 8_000, 'the daemon to exit');
    expect(code).toBe(0);
    expect(performance.now() - signalled).toBeLessThan(8_000);
  });
});

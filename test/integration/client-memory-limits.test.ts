// Memory one client controls (issue 10, finding 2), on the real daemon: what a single FastCGI
// connection can make switchyard hold is bounded by limits.connection_buffer, counted as the
// memory really kept (a tiny record that is a view into a 64 KiB read keeps the whole read),
// and a backend's STDERR waits for a slow client like its STDOUT. Each test reads the daemon's
// RSS from /proc (peak since just before the attack) and then has a good client served.
import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FCGI_NULL_REQUEST_ID, RecordType } from '../../src/protocol/constants.js';
import { encodeNameValuePairs } from '../../src/protocol/name-value-pairs.js';
import { encodeRecord } from '../../src/protocol/record-encoder.js';
import { fcgiExchange, phpParams } from '../support/fcgi-exchange.js';
import { type LimitsDaemon, startLimitsDaemon } from '../support/limits-daemon.js';
import { MiB, mib, peakRss, startPeakRss } from '../support/proc-memory.js';
import { RawFcgiClient } from '../support/raw-fcgi-client.js';
import {
  beginRequest,
  finishRequest,
  responseOf,
  writeFully,
} from '../support/raw-fcgi-records.js';
import { type StderrFloodApp, startStderrFloodApp } from '../support/stderr-flood-app.js';
import { waitFor } from '../support/wait-for.js';

/** Generous: each attack below grows the old daemon by 190 MiB or more. */
const RSS_BOUND = 64 * MiB;
/**
 * For the 3000 reads of 64 KiB: 192 MiB of reads pass through and are garbage at once, and
 * node collects them only every few tens of MiB (about 35 MiB of peak growth with nothing
 * kept; 200 MiB when each read is kept).
 */
const READ_CHURN_RSS_BOUND = 96 * MiB;
/** One socket read of node's: each write below is exactly this, so each is one read. */
const READ = 64 * 1024;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function daemonWith(
  label: string,
  limits: readonly string[],
  replicas?: (dir: string) => Promise<readonly [string, string]>,
): Promise<LimitsDaemon> {
  const daemon = await startLimitsDaemon({
    label,
    limits,
    ...(replicas === undefined ? {} : { replicas }),
  });
  cleanups.push(() => daemon.cleanup());
  // The heap grows to its working size and the code is compiled before the baseline.
  for (let i = 0; i < 20; i += 1) await expectServed(daemon);
  return daemon;
}

async function expectServed(daemon: LimitsDaemon, uri = '/release.json'): Promise<void> {
  const response = await fcgiExchange(daemon.fastcgiSocket, {
    params: phpParams(daemon.release, uri),
  });
  expect(response.status).toBe(200);
}

function expectAlive(daemon: LimitsDaemon): void {
  expect(daemon.switchyard.child.exitCode).toBeNull();
  expect(daemon.switchyard.child.signalCode).toBeNull();
}

function openSocket(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => {});
      resolve(socket);
    });
  });
}

/**
 * `record`, then a DATA record (which switchyard reads and ignores) filling the write to one
 * whole 64 KiB read: the record arrives as a small view into a big buffer.
 */
function inItsOwnRead(record: Buffer, id: number): Buffer {
  const filler = encodeRecord(RecordType.Data, id, Buffer.alloc(READ - record.length - 8));
  return Buffer.concat([record, filler]);
}

describe('memory a single client controls (real daemon)', () => {
  it('closes a connection opening 300 request ids with 1 MiB of unfinished params each', async () => {
    // Past the per-connection request cap too: what is held is bounded by the buffer.
    const daemon = await daemonWith('mem-ids', [
      'requests_per_connection = 1024',
      'params_timeout = "60s"',
    ]);
    const before = startPeakRss(daemon.pid);
    const socket = await openSocket(daemon.fastcgiSocket);
    cleanups.push(() => socket.destroy());
    let closed = false;
    socket.once('close', () => {
      closed = true;
    });
    const content = Buffer.alloc(65_528, 0x61);
    let sent = 0;
    for (let id = 1; id <= 300; id += 1) {
      const params = Array.from({ length: 16 }, () => encodeRecord(RecordType.Params, id, content));
      if (!(await writeFully(socket, Buffer.concat([beginRequest(id), ...params])))) break;
      sent += 1;
    }
    const growth = peakRss(daemon.pid) - before;
    console.info(`300 ids × 1 MiB: ${sent} ids written, peak RSS growth ${mib(growth)}`);
    expect(growth, `peak RSS grew by ${mib(growth)}`).toBeLessThan(RSS_BOUND);
    await waitFor(() => closed, { timeoutMs: 5_000, what: 'the connection to be closed' });
    expect(sent).toBeLessThan(300);
    expect(daemon.logged('ERR_CONNECTION_BUFFER').length).toBeGreaterThan(0);
    expectAlive(daemon);
    await expectServed(daemon);
  });

  it('copies tiny PARAMS records out of their 64 KiB reads: 3000 of them hold kilobytes', async () => {
    const daemon = await daemonWith('mem-params', ['params_timeout = "60s"']);
    const id = 1;
    const stream = encodeNameValuePairs(
      phpParams(daemon.release, '/release.json', { HTTP_X_PADDING: 'p'.repeat(2_600) }),
    );
    expect(stream.length).toBeGreaterThanOrEqual(3_000);
    const before = startPeakRss(daemon.pid);
    const client = await RawFcgiClient.open(daemon.fastcgiSocket);
    cleanups.push(() => client.destroy());
    expect(await writeFully(client.socket, inItsOwnRead(beginRequest(id), id))).toBe(true);
    for (const byte of stream) {
      const record = encodeRecord(RecordType.Params, id, Buffer.of(byte));
      expect(await writeFully(client.socket, inItsOwnRead(record, id))).toBe(true);
    }
    const growth = peakRss(daemon.pid) - before;
    console.info(`${stream.length} one-byte PARAMS records: peak RSS growth ${mib(growth)}`);
    expect(growth, `peak RSS grew by ${mib(growth)}`).toBeLessThan(READ_CHURN_RSS_BOUND);
    // The params came through whole: the request is served as sent.
    client.send(finishRequest(id));
    await client.waitForRecord((r) => r.type === RecordType.EndRequest, 'END_REQUEST');
    const response = responseOf(client.records, id);
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body).release).toBe('v1');
    await expectServed(daemon);
  });

  it('copies tiny STDIN records out of their 64 KiB reads: 3000 of them hold kilobytes', async () => {
    const daemon = await daemonWith('mem-stdin', []);
    const id = 1;
    const body = Buffer.alloc(3_000);
    for (let i = 0; i < body.length; i += 1) body[i] = (i * 7) & 0xff;
    const head = Buffer.concat([
      beginRequest(id),
      encodeRecord(
        RecordType.Params,
        id,
        encodeNameValuePairs(
          phpParams(daemon.release, '/echo-body', {
            REQUEST_METHOD: 'POST',
            CONTENT_LENGTH: String(body.length),
          }),
        ),
      ),
      encodeRecord(RecordType.Params, id),
    ]);
    const before = startPeakRss(daemon.pid);
    const client = await RawFcgiClient.open(daemon.fastcgiSocket);
    cleanups.push(() => client.destroy());
    expect(await writeFully(client.socket, inItsOwnRead(head, id))).toBe(true);
    for (const byte of body) {
      const record = encodeRecord(RecordType.Stdin, id, Buffer.of(byte));
      expect(await writeFully(client.socket, inItsOwnRead(record, id))).toBe(true);
    }
    const growth = peakRss(daemon.pid) - before;
    console.info(`${body.length} one-byte STDIN records: peak RSS growth ${mib(growth)}`);
    expect(growth, `peak RSS grew by ${mib(growth)}`).toBeLessThan(READ_CHURN_RSS_BOUND);
    client.send(encodeRecord(RecordType.Stdin, id));
    await client.waitForRecord((r) => r.type === RecordType.EndRequest, 'END_REQUEST');
    const response = responseOf(client.records, id);
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toMatchObject({
      length: body.length,
      sha256: createHash('sha256').update(body).digest('hex'),
    });
    await expectServed(daemon);
  });

  it('stops answering a client that sends unknown-type records and never reads', async () => {
    // The silent connection (nothing read, nothing written) is let go after this.
    const daemon = await daemonWith('mem-unknown', ['client_idle_timeout = "2s"']);
    const before = startPeakRss(daemon.pid);
    const socket = await openSocket(daemon.fastcgiSocket);
    cleanups.push(() => socket.destroy());
    socket.pause(); // never reads the UNKNOWN_TYPE answers
    let closed = false;
    socket.once('close', () => {
      closed = true;
    });
    // 8192 management records of an unknown type per write, each answered with 16 bytes.
    const batch = Buffer.concat(
      Array.from({ length: 8_192 }, () => encodeRecord(20, FCGI_NULL_REQUEST_ID)),
    );
    let sent = 0;
    for (let i = 0; i < 300; i += 1) {
      if (!(await writeFully(socket, batch))) break;
      sent += batch.length;
    }
    const growth = peakRss(daemon.pid) - before;
    console.info(`unknown types, never read: ${mib(sent)} sent, peak RSS growth ${mib(growth)}`);
    expect(growth, `peak RSS grew by ${mib(growth)}`).toBeLessThan(RSS_BOUND);
    await waitFor(() => closed, { timeoutMs: 10_000, what: 'the connection to be closed' });
    expectAlive(daemon);
    await expectServed(daemon);
  });

  it('holds back a backend writing 300 MB of STDERR to a client that does not read', async () => {
    const started: StderrFloodApp[] = [];
    const daemon = await daemonWith('mem-stderr', [], async (dir) => {
      const sockets = [join(dir, 'a.sock'), join(dir, 'b.sock')] as const;
      const app = await startStderrFloodApp(sockets, 300 * 1_000_000);
      started.push(app);
      cleanups.push(() => app.close());
      return sockets;
    });
    const flood = (started[0] as StderrFloodApp).flood;
    const before = startPeakRss(daemon.pid);
    const socket = await openSocket(daemon.fastcgiSocket);
    cleanups.push(() => socket.destroy());
    socket.pause(); // asks, then never reads the answer
    socket.write(
      Buffer.concat([
        beginRequest(1),
        encodeRecord(
          RecordType.Params,
          1,
          encodeNameValuePairs(phpParams(daemon.release, '/flood')),
        ),
        finishRequest(1),
      ]),
    );
    // Either the whole flood went through switchyard, or it is held back: the application
    // waits for a drain that does not come.
    await waitFor(
      () => flood.done || (flood.waitingForDrain && Date.now() - flood.lastProgressAt > 1_000),
      { timeoutMs: 30_000, what: 'the flood to end or stall' },
    );
    const growth = peakRss(daemon.pid) - before;
    console.info(`STDERR flood: ${mib(flood.sent)} sent, peak RSS growth ${mib(growth)}`);
    expect(growth, `peak RSS grew by ${mib(growth)}`).toBeLessThan(RSS_BOUND);
    expect(flood.done).toBe(false);
    expectAlive(daemon);
    await expectServed(daemon, '/ping');
  });
});

import { randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FCGI_NULL_REQUEST_ID,
  ProtocolStatus,
  RecordType,
  Role,
} from '../../src/protocol/constants.js';
import { decodeNameValuePairs, encodeNameValuePairs } from '../../src/protocol/name-value-pairs.js';
import { encodeParamsRecords } from '../../src/protocol/params-encoder.js';
import { encodeBeginRequestBody, parseEndRequestBody } from '../../src/protocol/record-bodies.js';
import { encodeRecord } from '../../src/protocol/record-encoder.js';
import { encodeRequest } from '../../src/protocol/request-encoder.js';
import { type RunningDataPlane, startDataPlane } from '../support/data-plane.js';
import {
  type DemoAppProcess,
  demoReleasesDir,
  startDemoApp,
  stopDemoApp,
} from '../support/demo-app.js';
import { FcgiTestConnection, phpParams } from '../support/fcgi-exchange.js';
import { RawFcgiClient } from '../support/raw-fcgi-client.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

const release = realpathSync(join(demoReleasesDir, 'v1'));

describe('FastCGI front end, as web servers and odd clients speak it', () => {
  const temp = makeTempDir('front');
  const apps: DemoAppProcess[] = [];
  let plane: RunningDataPlane;

  beforeAll(async () => {
    for (const name of ['a', 'b']) {
      apps.push(await startDemoApp({ cwd: release, socketPath: join(temp.path, `${name}.sock`) }));
    }
    plane = await startDataPlane({
      dir: temp.path,
      symlink: release,
      replicas: apps.map((_, i) => ({
        socket: join(temp.path, `${i === 0 ? 'a' : 'b'}.sock`),
        capacity: 4,
        release,
      })),
    });
  });

  afterAll(async () => {
    plane?.stop();
    for (const app of apps) await stopDemoApp(app);
    temp.remove();
  });

  const inFlight = () => plane.balancer.pools().reduce((sum, p) => sum + p.inFlight, 0);

  it('answers FCGI_GET_VALUES itself, for the names asked', async () => {
    const client = await RawFcgiClient.open(plane.socket);
    client.send(
      encodeRecord(
        RecordType.GetValues,
        FCGI_NULL_REQUEST_ID,
        encodeNameValuePairs([
          ['FCGI_MPXS_CONNS', ''],
          ['FCGI_MAX_REQS', ''],
          ['SOMETHING_ELSE', ''],
        ]),
      ),
    );
    const result = await client.waitForRecord(
      (r) => r.type === RecordType.GetValuesResult,
      'GET_VALUES_RESULT',
    );
    expect(new Map(decodeNameValuePairs(result.content))).toEqual(
      new Map([
        ['FCGI_MPXS_CONNS', '1'],
        ['FCGI_MAX_REQS', '1024'],
      ]),
    );
    client.destroy();
  });

  it('ends a request of another role with UNKNOWN_ROLE, and closes without KEEP_CONN', async () => {
    const client = await RawFcgiClient.open(plane.socket);
    client.send(
      encodeRecord(RecordType.BeginRequest, 5, encodeBeginRequestBody(Role.Authorizer, false)),
    );
    const end = await client.waitForRecord((r) => r.type === RecordType.EndRequest, 'END_REQUEST');
    expect(end.requestId).toBe(5);
    expect(parseEndRequestBody(end.content).protocolStatus).toBe(ProtocolStatus.UnknownRole);
    await client.waitForClose();
  });

  it('answers an unknown record type with UNKNOWN_TYPE and keeps the connection', async () => {
    const client = await RawFcgiClient.open(plane.socket);
    client.send(encodeRecord(42, 1, Buffer.from('what is this')));
    const unknown = await client.waitForRecord(
      (r) => r.type === RecordType.UnknownType,
      'UNKNOWN_TYPE',
    );
    expect(unknown.content[0]).toBe(42);
    client.send(
      encodeRequest({ requestId: 1, params: phpParams(release, '/fpm-ping'), keepConn: true }),
    );
    await client.waitForRecord(
      (r) => r.type === RecordType.EndRequest,
      'the request after it answered',
    );
    expect(client.closed).toBe(false);
    client.destroy();
  });

  it('closes the connection after END_REQUEST when the client did not ask to keep it', async () => {
    const client = await RawFcgiClient.open(plane.socket);
    client.send(
      encodeRequest({ requestId: 1, params: phpParams(release, '/fpm-ping'), keepConn: false }),
    );
    await client.waitForRecord((r) => r.type === RecordType.EndRequest, 'END_REQUEST');
    await client.waitForClose();
    const body = Buffer.concat(
      client.records.filter((r) => r.type === RecordType.Stdout).map((r) => r.content),
    );
    expect(body.toString()).toContain('pong');
  });

  it('serves requests multiplexed on one connection, each under its own id', async () => {
    const client = await RawFcgiClient.open(plane.socket);
    const ids = [3, 7, 11];
    for (const id of ids) {
      client.send(
        encodeRequest({
          requestId: id,
          params: phpParams(release, `/sleep?ms=${100 - id}`),
          keepConn: true,
        }),
      );
    }
    await waitFor(
      () =>
        ids.every((id) =>
          client.records.some((r) => r.type === RecordType.EndRequest && r.requestId === id),
        ),
      {
        timeoutMs: 5_000,
        what: 'three END_REQUESTs',
      },
    );
    for (const id of ids) {
      const body = Buffer.concat(
        client.records
          .filter((r) => r.type === RecordType.Stdout && r.requestId === id)
          .map((r) => r.content),
      ).toString();
      expect(body).toContain(`"slept":${100 - id}`);
    }
    client.destroy();
  });

  it('stops the backend request and frees its slot when the client hangs up', async () => {
    const client = await RawFcgiClient.open(plane.socket);
    client.send(
      encodeRequest({ requestId: 1, params: phpParams(release, '/sleep?ms=5000'), keepConn: true }),
    );
    await waitFor(() => inFlight() === 1, { timeoutMs: 5_000, what: 'the request in flight' });
    client.destroy();
    await waitFor(() => inFlight() === 0, { timeoutMs: 2_000, what: 'the slot to be freed' });
  });

  it('answers ABORT_REQUEST with END_REQUEST and frees the slot', async () => {
    const client = await RawFcgiClient.open(plane.socket);
    client.send(
      encodeRequest({ requestId: 9, params: phpParams(release, '/sleep?ms=5000'), keepConn: true }),
    );
    await waitFor(() => inFlight() === 1, { timeoutMs: 5_000, what: 'the request in flight' });
    client.send(encodeRecord(RecordType.AbortRequest, 9));
    const end = await client.waitForRecord((r) => r.type === RecordType.EndRequest, 'END_REQUEST');
    expect(end.requestId).toBe(9);
    await waitFor(() => inFlight() === 0, { timeoutMs: 2_000, what: 'the slot to be freed' });
    client.destroy();
  });

  it('accepts STDIN that arrives before the params are complete', async () => {
    const client = await RawFcgiClient.open(plane.socket);
    const body = randomBytes(1000);
    client.send(
      encodeRecord(RecordType.BeginRequest, 1, encodeBeginRequestBody(Role.Responder, true)),
    );
    client.send(encodeRecord(RecordType.Stdin, 1, body));
    client.send(encodeRecord(RecordType.Stdin, 1));
    client.send(
      encodeParamsRecords(
        1,
        phpParams(release, '/echo-body', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: '1000' }),
      ),
    );
    await client.waitForRecord((r) => r.type === RecordType.EndRequest, 'END_REQUEST');
    const answer = Buffer.concat(
      client.records.filter((r) => r.type === RecordType.Stdout).map((r) => r.content),
    );
    expect(answer.toString()).toContain('"length":1000');
    client.destroy();
  });

  it('closes a connection that sends malformed FastCGI, and serves everyone else throughout', async () => {
    const good = await FcgiTestConnection.open(plane.socket);
    let goodServed = 0;
    let goodFailed = 0;
    let stop = false;
    const goodLoop = (async () => {
      while (!stop) {
        try {
          const response = await good.request({ params: phpParams(release, '/fpm-ping') });
          if (response.status === 200 && response.body.toString() === 'pong') goodServed += 1;
          else goodFailed += 1;
        } catch {
          goodFailed += 1;
        }
      }
    })();

    const garbage = [
      Buffer.from([2, 1, 0, 1, 0, 0, 0, 0]), // version 2
      Buffer.concat([
        encodeRecord(RecordType.BeginRequest, 1, encodeBeginRequestBody(Role.Responder, true)),
        encodeRecord(RecordType.Params, 1, Buffer.from([0x85, 0, 0])),
      ]),
      encodeRecord(RecordType.Stdout, 1, Buffer.from('a client does not send STDOUT')),
      encodeRecord(RecordType.BeginRequest, 1, Buffer.from([0, 1])), // short body
    ];
    for (const bytes of garbage) {
      const client = await RawFcgiClient.open(plane.socket);
      client.send(bytes);
      if (bytes[0] !== 2 && bytes.length > 16) client.send(encodeRecord(RecordType.Params, 1));
      await client.waitForClose();
    }
    // Random bytes and mutated requests: each either gets served or is cut off, never more.
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 300 }), async (bytes) => {
        const client = await RawFcgiClient.open(plane.socket);
        client.send(Buffer.from(bytes));
        client.socket.end();
        await waitFor(() => client.closed, {
          timeoutMs: 5_000,
          what: 'the fuzzed connection to end',
        });
      }),
      { numRuns: 60 },
    );
    stop = true;
    await goodLoop;
    good.close();
    expect(goodFailed).toBe(0);
    expect(goodServed).toBeGreaterThan(10);
    await waitFor(() => inFlight() === 0, { timeoutMs: 5_000, what: 'no request left in flight' });
  });
});

import { randomBytes } from 'node:crypto';
import { mkdirSync, realpathSync } from 'node:fs';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FCGI_NULL_REQUEST_ID, ProtocolStatus, RecordType } from '../../src/protocol/constants.js';
import { decodeNameValuePairs, encodeNameValuePairs } from '../../src/protocol/name-value-pairs.js';
import { encodeEndRequestBody } from '../../src/protocol/record-bodies.js';
import { encodeRecord } from '../../src/protocol/record-encoder.js';
import { type RunningDataPlane, startDataPlane } from '../support/data-plane.js';
import {
  type DemoAppProcess,
  demoReleasesDir,
  startDemoApp,
  stopDemoApp,
} from '../support/demo-app.js';
import { FcgiTestConnection, fcgiExchange, phpParams } from '../support/fcgi-exchange.js';
import { RawFcgiClient } from '../support/raw-fcgi-client.js';
import { startScriptedApp, wholeAnswer } from '../support/scripted-fcgi-app.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

const release = realpathSync(join(demoReleasesDir, 'v1'));
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function demoApp(dir: string, name: string): Promise<string> {
  const socket = join(dir, `${name}.sock`);
  const app: DemoAppProcess = await startDemoApp({ cwd: release, socketPath: socket });
  cleanups.push(() => stopDemoApp(app));
  return socket;
}

async function scripted(
  dir: string,
  name: string,
  answer: Parameters<typeof startScriptedApp>[1],
): Promise<string> {
  const socket = join(dir, `${name}.sock`);
  const server: Server = await startScriptedApp(socket, answer);
  cleanups.push(() => server.close());
  return socket;
}

async function plane(
  dir: string,
  sockets: string[],
  capacity: number,
  extra = {},
): Promise<RunningDataPlane> {
  mkdirSync(join(dir, 'plane'));
  const running = await startDataPlane({
    dir: join(dir, 'plane'),
    symlink: release,
    replicas: sockets.map((socket) => ({ socket, capacity, release })),
    ...extra,
  });
  cleanups.push(() => running.stop());
  return running;
}

function tempDir(label: string): string {
  const temp = makeTempDir(label);
  cleanups.push(temp.remove);
  return temp.path;
}

const inFlight = (p: RunningDataPlane) =>
  p.balancer.pools().reduce((sum, pool) => sum + pool.inFlight, 0);

describe('data plane robustness against odd clients and applications', () => {
  it('answers GET_VALUES for names like "constructor" with nothing, and keeps serving', async () => {
    const dir = tempDir('gv');
    const running = await plane(dir, [await demoApp(dir, 'a'), await demoApp(dir, 'b')], 2);
    const client = await RawFcgiClient.open(running.socket);
    client.send(
      encodeRecord(
        RecordType.GetValues,
        FCGI_NULL_REQUEST_ID,
        encodeNameValuePairs([
          ['constructor', ''],
          ['__proto__', ''],
          ['toString', ''],
          ['FCGI_MPXS_CONNS', ''],
        ]),
      ),
    );
    const result = await client.waitForRecord(
      (r) => r.type === RecordType.GetValuesResult,
      'the answer',
    );
    expect(decodeNameValuePairs(result.content)).toEqual([['FCGI_MPXS_CONNS', '1']]);
    client.destroy();
    const response = await fcgiExchange(running.socket, {
      params: phpParams(release, '/fpm-ping'),
    });
    expect(response.body.toString()).toBe('pong');
  });

  it('reads the next request on a connection whose held upload was refused with 503', async () => {
    const dir = tempDir('held');
    const running = await plane(dir, [await demoApp(dir, 'a'), await demoApp(dir, 'b')], 1, {
      queueTimeoutMs: 300,
    });
    const slow = [0, 1].map(() =>
      fcgiExchange(running.socket, { params: phpParams(release, '/sleep?ms=1500') }),
    );
    await waitFor(() => inFlight(running) === 2, { timeoutMs: 5_000, what: 'both slots busy' });
    const connection = await FcgiTestConnection.open(running.socket);
    cleanups.push(() => connection.close());
    // Bigger than retry_body (1 MiB): held while queued, so the client is paused.
    const refused = await connection.request({
      params: phpParams(release, '/echo-body', {
        REQUEST_METHOD: 'POST',
        CONTENT_LENGTH: String(2 << 20),
      }),
      stdin: randomBytes(2 << 20),
    });
    expect(refused.status).toBe(503);
    await Promise.all(slow);
    const next = await connection.request({ params: phpParams(release, '/fpm-ping') });
    expect(next.body.toString()).toBe('pong');
  });

  it('retries elsewhere when an application sends a malformed END_REQUEST, and frees the slot', async () => {
    const dir = tempDir('short');
    const badEnd = (id: number) =>
      Buffer.concat([
        encodeRecord(RecordType.Stdout, id),
        encodeRecord(RecordType.EndRequest, id, Buffer.alloc(3)),
      ]);
    const running = await plane(
      dir,
      [await scripted(dir, 'bad', badEnd), await demoApp(dir, 'good')],
      2,
    );
    for (let i = 0; i < 6; i += 1) {
      const response = await fcgiExchange(running.socket, {
        params: phpParams(release, '/fpm-ping'),
      });
      expect(response.body.toString(), `request ${i}`).toBe('pong');
    }
    await waitFor(() => inFlight(running) === 0, { timeoutMs: 2_000, what: 'every slot free' });
  });

  it('retries elsewhere when an application answers END_REQUEST with OVERLOADED', async () => {
    const dir = tempDir('over');
    const overloaded = (id: number) =>
      encodeRecord(RecordType.EndRequest, id, encodeEndRequestBody(0, ProtocolStatus.Overloaded));
    const running = await plane(
      dir,
      [await scripted(dir, 'busy', overloaded), await demoApp(dir, 'good')],
      2,
    );
    for (let i = 0; i < 6; i += 1) {
      const response = await fcgiExchange(running.socket, {
        params: phpParams(release, '/fpm-ping'),
      });
      expect(response.body.toString(), `request ${i}`).toBe('pong');
    }
  });

  it('ignores what an application sends after END_REQUEST in the same read', async () => {
    const dir = tempDir('after');
    const trailing = (id: number) =>
      Buffer.concat([
        wholeAnswer(id, 10),
        encodeRecord(RecordType.Stdout, id, Buffer.from('Status: 500\r\n\r\nstray')),
        encodeRecord(RecordType.Stderr, id, Buffer.from('stray')),
      ]);
    // One slot: the queued requests take the connection the moment END_REQUEST frees it,
    // inside the read that still holds the stray records.
    const running = await plane(dir, [await scripted(dir, 'stray', trailing)], 1);
    const responses = await Promise.all(
      Array.from({ length: 5 }, () =>
        fcgiExchange(running.socket, { params: phpParams(release, '/x') }),
      ),
    );
    for (const response of responses) {
      expect(response.status).toBe(200);
      expect(response.body.toString()).toBe('a'.repeat(10));
      expect(response.stderr).toBe('');
    }
  });

  it('retries a request whose application wrote only STDERR before failing', async () => {
    const dir = tempDir('stderr');
    // A PHP warning on STDERR, then the worker dies: nothing reached the user yet.
    const warnThenDie = (id: number) => ({
      bytes: encodeRecord(RecordType.Stderr, id, Buffer.from('PHP Warning: about to crash')),
      thenClose: true as const,
    });
    const running = await plane(
      dir,
      [await scripted(dir, 'dies', warnThenDie), await demoApp(dir, 'good')],
      2,
    );
    for (let i = 0; i < 6; i += 1) {
      const response = await fcgiExchange(running.socket, {
        params: phpParams(release, '/fpm-ping'),
      });
      expect(response.status, `request ${i}`).toBe(200);
      expect(response.body.toString()).toBe('pong');
    }
  });
});

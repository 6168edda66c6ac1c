// `[response] release_header` in the in-process data plane: each replica's header line is put
// first in the CGI head of its responses, on the FastCGI front and on the HTTP front, in
// front of the demo app and of scripted applications that split their heads oddly.
import { mkdirSync, realpathSync, symlinkSync } from 'node:fs';
import { request } from 'node:http';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  FCGI_MAX_CONTENT_LENGTH,
  ProtocolStatus,
  RecordType,
} from '../../src/protocol/constants.js';
import { encodeEndRequestBody } from '../../src/protocol/record-bodies.js';
import { encodeRecord } from '../../src/protocol/record-encoder.js';
import { encodeRequest } from '../../src/protocol/request-encoder.js';
import { releaseHeaderBytes } from '../../src/request/release-header.js';
import {
  type DataPlaneOptions,
  type RunningDataPlane,
  startDataPlane,
} from '../support/data-plane.js';
import { demoReleasesDir, startDemoApp, stopDemoApp } from '../support/demo-app.js';
import { fcgiExchange, phpParams } from '../support/fcgi-exchange.js';
import { startNginx } from '../support/nginx.js';
import { RawFcgiClient } from '../support/raw-fcgi-client.js';
import { startScriptedApp } from '../support/scripted-fcgi-app.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { makeTempDir } from '../support/temp-dir.js';

const v1 = realpathSync(join(demoReleasesDir, 'v1'));
const v2 = realpathSync(join(demoReleasesDir, 'v2'));
const NAME = 'X-Served-Release';
const nginx = requireSystemTool(SystemTool.nginx);

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(label: string): string {
  const temp = makeTempDir(label);
  cleanups.push(temp.remove);
  return temp.path;
}

async function demoApp(dir: string, name: string, release: string): Promise<string> {
  const socket = join(dir, `${name}.sock`);
  const app = await startDemoApp({ cwd: release, socketPath: socket });
  cleanups.push(() => stopDemoApp(app));
  return socket;
}

/** A scripted application that writes `stdout` in records of `recordBytes` each. */
async function scripted(
  dir: string,
  name: string,
  stdout: Buffer,
  recordBytes = FCGI_MAX_CONTENT_LENGTH,
): Promise<string> {
  const socket = join(dir, `${name}.sock`);
  const server: Server = await startScriptedApp(socket, (id) => answer(id, stdout, recordBytes));
  cleanups.push(() => server.close());
  return socket;
}

/** An application that closes each connection before answering anything; counts the tries. */
async function hangingUp(
  dir: string,
  name: string,
): Promise<{ socket: string; tries: () => number }> {
  const socket = join(dir, `${name}.sock`);
  let tries = 0;
  const server = await startScriptedApp(socket, () => {
    tries += 1;
    return { bytes: Buffer.alloc(0), thenClose: true as const };
  });
  cleanups.push(() => server.close());
  return { socket, tries: () => tries };
}

function answer(requestId: number, stdout: Buffer, recordBytes: number): Buffer {
  const records: Buffer[] = [];
  for (let at = 0; at < stdout.length; at += recordBytes) {
    records.push(encodeRecord(RecordType.Stdout, requestId, stdout.subarray(at, at + recordBytes)));
  }
  records.push(encodeRecord(RecordType.Stdout, requestId));
  records.push(
    encodeRecord(
      RecordType.EndRequest,
      requestId,
      encodeEndRequestBody(0, ProtocolStatus.RequestComplete),
    ),
  );
  return Buffer.concat(records);
}

async function plane(
  dir: string,
  replicas: DataPlaneOptions['replicas'],
  http = false,
): Promise<RunningDataPlane> {
  const planeDir = join(dir, 'plane');
  mkdirSync(planeDir);
  const symlink = join(dir, 'current');
  symlinkSync(v1, symlink);
  const running = await startDataPlane({ dir: planeDir, symlink, replicas, http });
  cleanups.push(() => running.stop());
  return running;
}

/** Every STDOUT byte of one request's answer as the web server receives it, and its records. */
async function rawAnswer(socket: string): Promise<{ stdout: Buffer; records: Buffer[] }> {
  const client = await RawFcgiClient.open(socket);
  try {
    client.send(encodeRequest({ requestId: 1, params: phpParams(v1, '/'), keepConn: true }));
    await client.waitForRecord((r) => r.type === RecordType.EndRequest, 'END_REQUEST');
    const records = client.records
      .filter((r) => r.type === RecordType.Stdout && r.content.length > 0)
      .map((r) => r.content);
    return { stdout: Buffer.concat(records), records };
  } finally {
    client.destroy();
  }
}

interface HttpReply {
  readonly status: number;
  /** Name and value pairs in the order they came. */
  readonly headers: Array<[string, string]>;
  readonly body: string;
}

function httpGet(url: string, path: string): Promise<HttpReply> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const headers: Array<[string, string]> = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          headers.push([res.rawHeaders[i] as string, res.rawHeaders[i + 1] as string]);
        }
        resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks).toString() });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const valuesOf = (headers: ReadonlyArray<readonly [string, string]>, name: string) =>
  headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);

describe('the release header', () => {
  it("names each replica's release on FastCGI and HTTP responses of the demo app", async () => {
    const dir = tempDir('rh-demo');
    const running = await plane(
      dir,
      [
        {
          socket: await demoApp(dir, 'a', v1),
          capacity: 2,
          release: v1,
          responseHeader: releaseHeaderBytes(NAME, v1),
        },
        {
          socket: await demoApp(dir, 'b', v2),
          capacity: 2,
          release: v2,
          responseHeader: releaseHeaderBytes(NAME, v2),
        },
      ],
      true,
    );
    const url = running.http?.url as string;
    // The balancer serves one release at a time: both, one after the other (the deploy toggle).
    for (const [release, name] of [
      [v1, 'v1'],
      [v2, 'v2'],
    ] as const) {
      running.balancer.setServingRelease(release);
      const fcgi = await Promise.all(
        Array.from({ length: 4 }, () =>
          fcgiExchange(running.socket, { params: phpParams(v1, '/release.json') }),
        ),
      );
      for (const response of fcgi) {
        expect(response.status).toBe(200);
        // Ours first, and the release that answered (the app's own X-Release says which).
        expect(response.headers[0]).toEqual([NAME, name]);
        expect(valuesOf(response.headers, 'X-Release')).toEqual([name]);
        expect(JSON.parse(response.body.toString()).release).toBe(name);
      }
      const http = await Promise.all(
        Array.from({ length: 4 }, () => httpGet(url, '/release.json')),
      );
      for (const reply of http) {
        expect(reply.status).toBe(200);
        expect(valuesOf(reply.headers, NAME)).toEqual([name]);
        expect(valuesOf(reply.headers, 'X-Release')).toEqual([name]);
        expect(JSON.parse(reply.body).release).toBe(name);
      }
    }
  });

  it("sends the application's own header of the same name too, after ours", async () => {
    const dir = tempDir('rh-same');
    const running = await plane(
      dir,
      [
        {
          socket: await demoApp(dir, 'a', v1),
          capacity: 1,
          release: v1,
          responseHeader: releaseHeaderBytes('X-Release', '/srv/app/releases/42'),
        },
      ],
      true,
    );
    const response = await fcgiExchange(running.socket, { params: phpParams(v1, '/') });
    expect(valuesOf(response.headers, 'X-Release')).toEqual(['42', 'v1']);
    const reply = await httpGet(running.http?.url as string, '/');
    expect(valuesOf(reply.headers, 'X-Release')).toEqual(['42', 'v1']);
  });

  it.each([
    {
      what: 'headers one byte per record',
      app: 'Content-Type: text/plain\r\nX-App: yes\r\n\r\nhello',
      recordBytes: 1,
      status: 200,
      appHeaders: [
        ['Content-Type', 'text/plain'],
        ['X-App', 'yes'],
      ],
    },
    {
      what: 'bare LF lines, 3 bytes per record',
      app: 'Status: 201 Created\nX-App: yes\n\nhello',
      recordBytes: 3,
      status: 201,
      appHeaders: [['X-App', 'yes']],
    },
    { what: 'no header at all', app: '\r\nhello', recordBytes: 1, status: 200, appHeaders: [] },
  ])('gives a correct head to an application sending $what', async (c) => {
    const dir = tempDir('rh-split');
    const running = await plane(
      dir,
      [
        {
          socket: await scripted(dir, 'a', Buffer.from(c.app), c.recordBytes),
          capacity: 1,
          release: v1,
          responseHeader: releaseHeaderBytes(NAME, '/srv/app/releases/42'),
        },
      ],
      true,
    );
    // The web server gets exactly our line, then the application's bytes.
    const raw = await rawAnswer(running.socket);
    expect(raw.stdout.toString('latin1')).toBe(`${NAME}: 42\r\n${c.app}`);
    const response = await fcgiExchange(running.socket, { params: phpParams(v1, '/') });
    expect(response.status).toBe(c.status);
    expect(response.headers).toEqual([[NAME, '42'], ...c.appHeaders]);
    expect(response.body.toString()).toBe('hello');
    const reply = await httpGet(running.http?.url as string, '/');
    expect(reply.status).toBe(c.status);
    expect(valuesOf(reply.headers, NAME)).toEqual(['42']);
    expect(valuesOf(reply.headers, 'X-App')).toEqual(c.appHeaders.length > 0 ? ['yes'] : []);
    expect(reply.body).toBe('hello');
  });

  it('goes in its own record before a first STDOUT record of 65535 bytes', async () => {
    const dir = tempDir('rh-full');
    const line = releaseHeaderBytes(NAME, v2) as Buffer;
    const head = 'Content-Type: application/octet-stream\r\n\r\n';
    const app = Buffer.concat([
      Buffer.from(head),
      Buffer.alloc(FCGI_MAX_CONTENT_LENGTH * 2 - head.length, 0x61),
    ]);
    const running = await plane(
      dir,
      [{ socket: await scripted(dir, 'a', app), capacity: 1, release: v2, responseHeader: line }],
      true,
    );
    const raw = await rawAnswer(running.socket);
    expect(raw.stdout.equals(Buffer.concat([line, app]))).toBe(true);
    expect(raw.records[0]?.equals(line)).toBe(true);
    const reply = await httpGet(running.http?.url as string, '/');
    expect(valuesOf(reply.headers, NAME)).toEqual(['v2']);
    expect(reply.body.length).toBe(app.length - head.length);
  });

  it('names the replica that answered a retried request, not the one that failed', async () => {
    const dir = tempDir('rh-retry');
    const failing = await hangingUp(dir, 'a');
    const running = await plane(dir, [
      {
        socket: failing.socket,
        capacity: 1,
        release: v1,
        responseHeader: releaseHeaderBytes(NAME, '/r/failing'),
      },
      {
        socket: await scripted(dir, 'b', Buffer.from('Content-Type: text/plain\r\n\r\nok')),
        capacity: 1,
        release: v1,
        responseHeader: releaseHeaderBytes(NAME, '/r/answering'),
      },
    ]);
    for (let i = 0; i < 6; i += 1) {
      const response = await fcgiExchange(running.socket, { params: phpParams(v1, '/') });
      expect(response.body.toString()).toBe('ok');
      expect(valuesOf(response.headers, NAME)).toEqual(['answering']);
    }
    expect(failing.tries()).toBeGreaterThan(0);
  });

  it('is not on the responses switchyard generates itself', async () => {
    const dir = tempDir('rh-502');
    const running = await plane(
      dir,
      [
        {
          socket: (await hangingUp(dir, 'a')).socket,
          capacity: 1,
          release: v1,
          responseHeader: releaseHeaderBytes(NAME, v1),
        },
      ],
      true,
    );
    const response = await fcgiExchange(running.socket, { params: phpParams(v1, '/') });
    expect(response.status).toBe(502);
    expect(valuesOf(response.headers, 'X-Switchyard')).toEqual(['generated']);
    expect(valuesOf(response.headers, NAME)).toEqual([]);
    const reply = await httpGet(running.http?.url as string, '/');
    expect(reply.status).toBe(502);
    expect(valuesOf(reply.headers, NAME)).toEqual([]);
  });

  it('changes nothing without the option: the web server gets the application bytes as sent', async () => {
    const dir = tempDir('rh-none');
    const app = Buffer.concat([
      Buffer.from('Content-Type: text/plain\r\nX-App: yes\r\n\r\n'),
      Buffer.alloc(100_000, 0x62),
    ]);
    const running = await plane(dir, [
      { socket: await scripted(dir, 'a', app, 7), capacity: 1, release: v1 },
      { socket: await scripted(dir, 'b', app), capacity: 1, release: v1, responseHeader: null },
    ]);
    for (let i = 0; i < 4; i += 1) {
      const raw = await rawAnswer(running.socket);
      expect(raw.stdout.equals(app)).toBe(true);
    }
    expect(running.balancer.pools().map((pool) => pool.served > 0)).toEqual([true, true]);
  });

  it.skipIf(nginx === undefined)(
    'reaches the HTTP client through nginx, heads split one byte per record included',
    async () => {
      const dir = tempDir('rh-nginx');
      const running = await plane(dir, [
        {
          socket: await scripted(
            dir,
            'a',
            Buffer.from('Content-Type: text/plain\r\nX-App: yes\r\n\r\nhello'),
            1,
          ),
          capacity: 1,
          release: v1,
          responseHeader: releaseHeaderBytes(NAME, '/srv/app/releases/42'),
        },
        {
          socket: await demoApp(dir, 'b', v2),
          capacity: 1,
          release: v2,
          responseHeader: releaseHeaderBytes(NAME, v2),
        },
      ]);
      const nginxDir = join(dir, 'nginx');
      mkdirSync(nginxDir);
      const server = await startNginx({
        binary: nginx as string,
        dir: nginxDir,
        fastcgiPass: `unix:${running.socket}`,
        documentRoot: join(dir, 'current'),
      });
      cleanups.push(() => server.stop());
      for (let i = 0; i < 3; i += 1) {
        const reply = await httpGet(server.url, '/index.php');
        expect(reply.status, server.output()).toBe(200);
        expect(valuesOf(reply.headers, NAME)).toEqual(['42']);
        expect(valuesOf(reply.headers, 'X-App')).toEqual(['yes']);
        expect(reply.body).toBe('hello');
      }
      running.balancer.setServingRelease(v2);
      // nginx passes only *.php on: the demo app answers it 404, with its own X-Release.
      const reply = await httpGet(server.url, '/release.php');
      expect(valuesOf(reply.headers, NAME)).toEqual(['v2']);
      expect(valuesOf(reply.headers, 'X-Release')).toEqual(['v2']);
    },
  );
});

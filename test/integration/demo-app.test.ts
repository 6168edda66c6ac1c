// The demo app (node-fastcgi) spoken to by fastcgi-client: two FastCGI implementations that
// owe nothing to switchyard's codec, so the fixture is known good before switchyard is put
// between them.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  canConnect,
  type DemoAppProcess,
  demoAppPath,
  demoReleasesDir,
  killAllDemoApps,
  spawnDemoApp,
  startDemoApp,
  startDemoAppsOnSharedSocket,
  stopDemoApp,
} from '../support/demo-app.js';
import { downloadPattern } from '../support/download-pattern.js';
import {
  cgiParams,
  type FastcgiResponse,
  fastcgiRequest,
} from '../support/fastcgi-client-request.js';
import { waitFor } from '../support/wait-for.js';

const tempDirs: string[] = [];

function makeTempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-'));
  tempDirs.push(dir);
  return dir;
}

/** A deploy-like layout: releases/v1 (a copy of the fixture) and current -> releases/v1. */
function makeReleaseLayout(): { root: string; current: string; releaseDir: string } {
  const root = makeTempDir();
  const releaseDir = path.join(root, 'releases', 'v1');
  fs.cpSync(path.join(demoReleasesDir, 'v1'), releaseDir, { recursive: true });
  const current = path.join(root, 'current');
  fs.symlinkSync(path.join('releases', 'v1'), current);
  return { root, current, releaseDir: fs.realpathSync(releaseDir) };
}

function get(socketPath: string, uri: string, extra?: Record<string, string>) {
  return fastcgiRequest(socketPath, { params: cgiParams(uri, extra) });
}

function json(response: FastcgiResponse): Record<string, unknown> {
  return JSON.parse(response.body.toString('utf8')) as Record<string, unknown>;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

afterAll(async () => {
  await killAllDemoApps();
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

describe('demo app on a unix socket path', () => {
  let app: DemoAppProcess;
  let socketPath: string;
  let releaseDir: string;

  beforeAll(async () => {
    const layout = makeReleaseLayout();
    releaseDir = layout.releaseDir;
    socketPath = path.join(layout.root, 'app.sock');
    app = await startDemoApp({ cwd: layout.current, socketPath });
  });

  afterAll(async () => {
    const exit = await stopDemoApp(app);
    expect(exit).toEqual({ code: 0, signal: null });
  });

  it('answers /release.json with the release, its resolved directory and its pid', async () => {
    const response = await get(socketPath, '/release.json');
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/json');
    expect(response.headers['x-release']).toBe('v1');
    expect(json(response)).toEqual({ release: 'v1', dir: releaseDir, pid: app.pid });
  });

  it('answers / with a human line naming release, greeting, dir and pid', async () => {
    const response = await get(socketPath, '/');
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe(
      `Hello from switchyard demo: release v1 (the first release says hello), ` +
        `dir ${releaseDir}, pid ${app.pid}\n`,
    );
  });

  it('answers the health checks /fpm-ping and /ping with pong', async () => {
    for (const uri of ['/fpm-ping', '/ping']) {
      const response = await get(socketPath, uri);
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toBe('text/plain');
      expect(response.body.toString()).toBe('pong');
    }
  });

  it('answers /fail with status 500 and unknown paths with 404, both carrying X-Release', async () => {
    const failed = await get(socketPath, '/fail');
    expect(failed.status).toBe(500);
    expect(failed.body.toString()).toBe('demo failure\n');
    expect(failed.headers['x-release']).toBe('v1');
    const missing = await get(socketPath, '/no/such/page');
    expect(missing.status).toBe(404);
    expect(missing.headers['x-release']).toBe('v1');
  });

  it('echoes the raw FastCGI params it was sent, null for absent ones', async () => {
    const response = await get(socketPath, '/params?names=SCRIPT_FILENAME,DOCUMENT_ROOT,ABSENT', {
      SCRIPT_FILENAME: `${releaseDir}/public/index.php`,
      DOCUMENT_ROOT: `${releaseDir}/public`,
    });
    expect(response.status).toBe(200);
    expect(json(response)).toEqual({
      SCRIPT_FILENAME: `${releaseDir}/public/index.php`,
      DOCUMENT_ROOT: `${releaseDir}/public`,
      ABSENT: null,
    });
  });

  it('reads a 2 MiB POST body and reports its length and sha256', async () => {
    const body = randomBytes(2 * 1024 * 1024);
    const response = await fastcgiRequest(socketPath, {
      params: cgiParams('/echo-body', {
        REQUEST_METHOD: 'POST',
        CONTENT_TYPE: 'application/octet-stream',
        CONTENT_LENGTH: String(body.length),
      }),
      body,
    });
    expect(response.status).toBe(200);
    expect(json(response)).toEqual({ length: body.length, sha256: sha256(body) });
  });

  it('streams 3000000 deterministic bytes whose sha256 matches its header and ours', async () => {
    const response = await get(socketPath, '/stream?bytes=3000000');
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/octet-stream');
    expect(response.body.length).toBe(3_000_000);
    const expected = sha256(downloadPattern(3_000_000));
    expect(sha256(response.body)).toBe(expected);
    expect(response.headers['x-content-sha256']).toBe(expected);
  });

  it('serves /sleep requests concurrently', async () => {
    const started = Date.now();
    const order: string[] = [];
    const sleeps = Array.from({ length: 5 }, (_, i) =>
      get(socketPath, '/sleep?ms=200').then((response) => {
        order.push(`sleep${i}`);
        return response;
      }),
    );
    // Issued after the sleeps: a server handling one request at a time would answer it last.
    const ping = get(socketPath, '/fpm-ping').then((response) => {
      order.push('ping');
      return response;
    });
    const responses = await Promise.all(sleeps);
    const elapsed = Date.now() - started;
    expect((await ping).body.toString()).toBe('pong');
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    for (const response of responses) {
      expect(json(response)).toEqual({ slept: 200, release: 'v1', pid: app.pid });
    }
    expect(order).toHaveLength(6);
    expect(order[0]).toBe('ping');
    // Five in a row would take at least 1000 ms; overlapping they take about 200.
    expect(elapsed).toBeLessThan(1000);
  });
});

describe('demo app on an inherited listening socket (fd 0)', () => {
  afterEach(killAllDemoApps);

  it('runs as two processes sharing one socket, both serving requests', async () => {
    const { current, releaseDir, root } = makeReleaseLayout();
    const { apps, socketPath } = await startDemoAppsOnSharedSocket({
      cwd: current,
      socketPath: path.join(root, 'shared.sock'),
      count: 2,
    });
    const pids = new Set(apps.map((app) => app.pid));
    expect(pids.size).toBe(2);

    const first = await get(socketPath, '/release.json');
    expect(first.status).toBe(200);
    expect(json(first)).toMatchObject({ release: 'v1', dir: releaseDir });
    expect(pids).toContain(json(first).pid);

    // The kernel, not the test, picks the accepting process: send batches until both answered.
    const seen = new Set<unknown>();
    let answered = 0;
    for (let batch = 0; batch < 10 && seen.size < 2; batch += 1) {
      const responses = await Promise.all(
        Array.from({ length: 40 }, () => get(socketPath, '/sleep?ms=50')),
      );
      for (const response of responses) {
        expect(response.status).toBe(200);
        const { pid } = json(response);
        expect(pids).toContain(pid);
        seen.add(pid);
        answered += 1;
      }
    }
    expect(answered).toBeGreaterThanOrEqual(40);
    expect(seen).toEqual(pids);

    // One process stopping (closing its copy of the socket) leaves the other serving it.
    const [leaving, staying] = apps as [DemoAppProcess, DemoAppProcess];
    expect(await stopDemoApp(leaving)).toEqual({ code: 0, signal: null });
    for (let i = 0; i < 5; i += 1) {
      expect(json(await get(socketPath, '/release.json')).pid).toBe(staying.pid);
    }
    expect(await stopDemoApp(staying)).toEqual({ code: 0, signal: null });
  });
});

describe('demo app lifecycle', () => {
  afterEach(killAllDemoApps);

  it('serves the release named by SWITCHYARD_RELEASE_DIR, resolved, over its cwd', async () => {
    const { current, releaseDir, root } = makeReleaseLayout();
    const socketPath = path.join(root, 'app.sock');
    const app = await startDemoApp({
      cwd: root,
      socketPath,
      env: { SWITCHYARD_RELEASE_DIR: current },
    });
    const response = await get(socketPath, '/release.json');
    expect(json(response)).toEqual({ release: 'v1', dir: releaseDir, pid: app.pid });
    expect(app.stderr()).toContain(`demo app v1 pid ${app.pid} listening on ${socketPath}`);
  });

  it('exits 1 naming the missing release.json when the release has none', async () => {
    const dir = makeTempDir();
    const app = spawnDemoApp({ cwd: dir, socketPath: path.join(dir, 'app.sock') });
    const exit = await app.exited;
    expect(exit).toEqual({ code: 1, signal: null });
    expect(app.stderr()).toContain(path.join(fs.realpathSync(dir), 'release.json'));
    expect(fs.existsSync(path.join(dir, 'app.sock'))).toBe(false);
  });

  it('exits 1 when release.json is not valid JSON', async () => {
    const dir = makeTempDir();
    fs.writeFileSync(path.join(dir, 'release.json'), '{"name": "v3",');
    const app = spawnDemoApp({ cwd: dir, socketPath: path.join(dir, 'app.sock') });
    expect(await app.exited).toEqual({ code: 1, signal: null });
    expect(app.stderr()).toContain('release.json');
  });

  it('exits 2 with a usage error when given no socket at all', async () => {
    const { current } = makeReleaseLayout();
    const app = spawnDemoApp({ cwd: current });
    expect(await app.exited).toEqual({ code: 2, signal: null });
    expect(app.stderr()).toMatch(/usage: .*--socket PATH/);
  });

  it('finishes an in-flight request on SIGTERM, then exits 0', async () => {
    const { current, root } = makeReleaseLayout();
    const socketPath = path.join(root, 'app.sock');
    const app = await startDemoApp({ cwd: current, socketPath, env: { DEMO_ACCESS_LOG: '1' } });
    const slow = get(socketPath, '/sleep?ms=1500');
    // Awaited below; a failing assertion before that must not leave it unhandled.
    slow.catch(() => undefined);
    await waitFor(() => app.stderr().includes('GET /sleep?ms=1500'), {
      timeoutMs: 10_000,
      what: 'the app to receive the slow request',
    });

    app.child.kill('SIGTERM');
    // It stops accepting at once (closing the listener removes the socket file)...
    await waitFor(async () => !(await canConnect(socketPath)), {
      timeoutMs: 10_000,
      what: 'the app to stop accepting',
    });
    expect(app.exit()).toBeUndefined();
    // ...but the admitted request still gets its whole response.
    const response = await slow;
    expect(response.status).toBe(200);
    expect(json(response)).toEqual({ slept: 1500, release: 'v1', pid: app.pid });
    expect(await app.exited).toEqual({ code: 0, signal: null });
  });

  it('honours FCGI_KEEP_CONN, and SIGTERM closes the idle kept-alive connection', async () => {
    const { current, root } = makeReleaseLayout();
    const socketPath = path.join(root, 'app.sock');
    const app = await startDemoApp({ cwd: current, socketPath });
    const conn = await openRawConnection(socketPath);
    try {
      for (const [i, uri] of ['/release.json', '/fpm-ping'].entries()) {
        conn.socket.write(rawKeepConnRequest(uri));
        await waitFor(() => conn.records.filter((r) => r.type === END_REQUEST).length === i + 1, {
          timeoutMs: 10_000,
          what: `FCGI_END_REQUEST for ${uri}`,
        });
        expect(conn.closed()).toBe(false);
      }
      const stdout = Buffer.concat(
        conn.records.filter((r) => r.type === STDOUT).map((r) => r.content),
      ).toString();
      expect(stdout).toContain(`"pid":${app.pid}`);
      expect(stdout).toMatch(/\r\n\r\npong$/);

      expect(await stopDemoApp(app)).toEqual({ code: 0, signal: null });
      await waitFor(() => conn.closed(), {
        timeoutMs: 10_000,
        what: 'the idle connection to close',
      });
      // Nothing trails the last FCGI_END_REQUEST (a kept-alive peer would misattribute it).
      expect(conn.records.at(-1)?.type).toBe(END_REQUEST);
    } finally {
      conn.socket.destroy();
    }
  });

  it('does not let requests whose client vanished hold up a graceful stop', async () => {
    const { current, root } = makeReleaseLayout();
    const socketPath = path.join(root, 'app.sock');
    const app = await startDemoApp({ cwd: current, socketPath, env: { DEMO_ACCESS_LOG: '1' } });
    // An idle kept-alive connection is only closed once no request is in flight.
    const idle = await openRawConnection(socketPath);
    const vanishing = await Promise.all([
      openRawConnection(socketPath),
      openRawConnection(socketPath),
    ]);
    try {
      idle.socket.write(rawKeepConnRequest('/fpm-ping'));
      await waitFor(() => idle.records.some((r) => r.type === END_REQUEST), {
        timeoutMs: 10_000,
        what: 'the kept-alive ping to end',
      });
      const [sleeper, streamer] = vanishing as [RawConnection, RawConnection];
      sleeper.socket.write(rawKeepConnRequest('/sleep?ms=600000'));
      streamer.socket.write(rawKeepConnRequest('/stream?bytes=100000000'));
      await waitFor(() => app.stderr().includes('GET /sleep?ms=600000'), {
        timeoutMs: 10_000,
        what: 'the app to receive the long sleep',
      });
      await waitFor(() => streamer.records.some((r) => r.type === STDOUT), {
        timeoutMs: 10_000,
        what: 'the stream to start',
      });
      for (const conn of vanishing) conn.socket.destroy();

      expect(await stopDemoApp(app)).toEqual({ code: 0, signal: null });
      expect(idle.closed()).toBe(true);
    } finally {
      for (const conn of [idle, ...vanishing]) conn.socket.destroy();
    }
  });

  it('exits soon after its parent dies, so no worker outlives a killed supervisor', async () => {
    const { current, root } = makeReleaseLayout();
    const socketPath = path.join(root, 'orphan.sock');
    // A stand-in supervisor: starts the app, reports its pid, then is SIGKILLed.
    const script =
      `const c = require('node:child_process').spawn(process.execPath, ` +
      `${JSON.stringify([demoAppPath, '--socket', socketPath])}, { stdio: 'ignore' });` +
      `console.log(c.pid); setInterval(() => {}, 1000);`;
    const supervisor = spawn(process.execPath, ['-e', script], {
      cwd: current,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const supervisorExit = new Promise((resolve) => supervisor.once('exit', resolve));
    let out = '';
    supervisor.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    let workerPid: number | undefined;
    try {
      workerPid = await waitFor(() => Number.parseInt(out, 10) || undefined, {
        timeoutMs: 10_000,
        what: 'the stand-in supervisor to report its worker pid',
      });
      await waitFor(() => canConnect(socketPath), {
        timeoutMs: 10_000,
        what: 'the orphan-to-be worker to accept',
      });
      supervisor.kill('SIGKILL');
      await supervisorExit;
      const pid = workerPid;
      await waitFor(() => !isRunning(pid), {
        timeoutMs: 10_000,
        what: `orphaned worker ${pid} to exit`,
      });
    } finally {
      supervisor.kill('SIGKILL');
      if (workerPid !== undefined && isRunning(workerPid)) process.kill(workerPid, 'SIGKILL');
    }
  });
});

// A hand-rolled FastCGI client for what fastcgi-client cannot do (keep a connection open
// between requests): fixed request id 1, short params only.
const BEGIN_REQUEST = 1;
const PARAMS = 4;
const STDIN = 5;
const STDOUT = 6;
const END_REQUEST = 3;

interface RawRecord {
  type: number;
  requestId: number;
  content: Buffer;
}

function rawRecord(type: number, content: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.from([1, type, 0, 1, content.length >> 8, content.length & 0xff, 0, 0]);
  return Buffer.concat([header, content]);
}

function rawKeepConnRequest(uri: string): Buffer {
  const pairs = Object.entries(cgiParams(uri)).map(([name, value]) => {
    if (name.length > 127 || value.length > 127) throw new Error(`param ${name} too long`);
    return Buffer.concat([Buffer.from([name.length, value.length]), Buffer.from(name + value)]);
  });
  const responderKeepConn = Buffer.from([0, 1, 1, 0, 0, 0, 0, 0]);
  return Buffer.concat([
    rawRecord(BEGIN_REQUEST, responderKeepConn),
    rawRecord(PARAMS, Buffer.concat(pairs)),
    rawRecord(PARAMS),
    rawRecord(STDIN),
  ]);
}

interface RawConnection {
  socket: net.Socket;
  records: RawRecord[];
  closed: () => boolean;
}

async function openRawConnection(socketPath: string): Promise<RawConnection> {
  const socket = net.connect(socketPath);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const records: RawRecord[] = [];
  let closed = false;
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      if (pending.length < 8) return;
      const contentLength = pending.readUInt16BE(4);
      const end = 8 + contentLength + pending.readUInt8(6);
      if (pending.length < end) return;
      records.push({
        type: pending.readUInt8(1),
        requestId: pending.readUInt16BE(2),
        content: pending.subarray(8, 8 + contentLength),
      });
      pending = pending.subarray(end);
    }
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    closed = true;
  });
  return { socket, records, closed: () => closed };
}

/** Whether `pid` is a live process; a zombie (exited, not yet reaped) counts as gone. */
function isRunning(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state letter follows the parenthesised command name.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

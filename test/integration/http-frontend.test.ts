// The HTTP front (`listen.http`) in the in-process data plane, in front of the demo app and of
// real php-fpm masters, spoken to by real HTTP clients: node's http, curl, a raw socket.
import { execFile, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { Agent, type IncomingHttpHeaders, type OutgoingHttpHeaders, request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpFrontend } from '../../src/frontend/http-frontend.js';
import { silentLogger } from '../../src/log.js';
import { BalancerError } from '../../src/request/balancer-error.js';
import type {
  BackendAttempt,
  Dispatcher,
  Exchange,
  ExchangeOutcome,
} from '../../src/request/exchange.js';
import { type RunningDataPlane, startDataPlane } from '../support/data-plane.js';
import {
  type DemoAppProcess,
  demoReleasesDir,
  killAllDemoApps,
  startDemoApp,
  stopDemoApp,
} from '../support/demo-app.js';
import { downloadPattern, downloadPatternSha256 } from '../support/download-pattern.js';
import { runHttpLoad } from '../support/http-load.js';
import { type RunningPhpFpm, startPhpFpm } from '../support/php-fpm.js';
import { repoRoot } from '../support/repo-root.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

const phpFpm = requireSystemTool(SystemTool.phpFpm);
const hasCurl = spawnSync('curl', ['--version']).status === 0;
if (!hasCurl) process.stderr.write('\n*** SKIPPING the curl test: curl is not installed ***\n\n');

const MiB = 1024 * 1024;

/** Replicas an application case runs: sockets for the data plane and how to stop them. */
interface Replicas {
  readonly sockets: readonly string[];
  readonly capacity: number;
  stop(): Promise<void>;
}

/** What differs between the demo app and PHP; every test below runs against both. */
interface AppCase {
  readonly name: string;
  readonly releaseName: string;
  /** The resolved release directory the replicas serve. */
  readonly release: string;
  readonly start: (dir: string) => Promise<Replicas>;
  readonly failPath: string;
  readonly uploadPath: string;
  readonly downloadPath: (bytes: number) => string;
  readonly slowPath: string;
  readonly skip: boolean;
}

interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** One request on its own connection; the path is sent exactly as given. */
function httpRequest(
  base: string,
  path: string,
  options: {
    method?: string;
    headers?: OutgoingHttpHeaders;
    body?: Buffer;
    /** Send the body chunked (no Content-Length), in 64 KiB writes. */
    chunked?: boolean;
    agent?: Agent;
  } = {},
): Promise<Reply> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: hostname,
        port,
        path,
        method: options.method ?? 'GET',
        headers: {
          ...(options.body === undefined || options.chunked
            ? {}
            : { 'content-length': options.body.length }),
          ...options.headers,
        },
        agent: options.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          if (!res.complete) reject(new Error(`response to ${path} cut off`));
          else
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks),
            });
        });
      },
    );
    req.on('error', reject);
    if (options.chunked && options.body !== undefined) {
      for (let at = 0; at < options.body.length; at += 65_536) {
        req.write(options.body.subarray(at, at + 65_536));
      }
      req.end();
    } else {
      req.end(options.body);
    }
  });
}

/** A download hashed as it streams, so 50 MiB are never held. */
function download(
  base: string,
  path: string,
): Promise<{ status: number; headers: IncomingHttpHeaders; length: number; sha256: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, agent: false }, (res) => {
      const hash = createHash('sha256');
      let length = 0;
      res.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        length += chunk.length;
      });
      res.on('error', reject);
      res.on('end', () => {
        if (!res.complete) reject(new Error(`download of ${path} cut off at ${length} bytes`));
        else
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            length,
            sha256: hash.digest('hex'),
          });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Writes `text` on a fresh connection and returns every byte until the server closes it. */
function rawExchange(base: string, text: string): Promise<Buffer> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
    socket.write(text);
  });
}

function curl(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '--max-time', '20', ...args], (error, stdout, stderr) => {
      if (error) reject(new Error(`curl ${args.join(' ')}: ${error.message} ${stderr}`));
      else resolve(stdout);
    });
  });
}

/** The release a page names: JSON pages carry `release`, the demo's `/` says `release v1`. */
function releaseIn(body: Buffer): string | undefined {
  const text = body.toString('utf8');
  try {
    return (JSON.parse(text) as { release?: string }).release;
  } catch {
    return /release (\S+)/.exec(text)?.[1];
  }
}

const demoRelease = realpathSync(join(demoReleasesDir, 'v1'));
const phpRelease = realpathSync(join(repoRoot, 'fixtures/php/releases/r1'));

const demoApp: AppCase = {
  name: 'the demo app (two processes)',
  releaseName: 'v1',
  release: demoRelease,
  start: async (dir) => {
    const sockets = [join(dir, 'demo-a.sock'), join(dir, 'demo-b.sock')];
    const apps: DemoAppProcess[] = await Promise.all(
      sockets.map((socketPath) => startDemoApp({ cwd: demoRelease, socketPath })),
    );
    return {
      sockets,
      capacity: 8,
      stop: async () => {
        await Promise.all(apps.map((app) => stopDemoApp(app)));
      },
    };
  },
  failPath: '/fail',
  uploadPath: '/echo-body',
  downloadPath: (bytes) => `/stream?bytes=${bytes}`,
  slowPath: '/sleep?ms=500',
  skip: false,
};

const php: AppCase = {
  name: 'two real php-fpm masters',
  releaseName: 'r1',
  release: phpRelease,
  start: async (dir) => {
    const masters: RunningPhpFpm[] = await Promise.all(
      ['a', 'b'].map((name) => {
        mkdirSync(join(dir, name));
        return startPhpFpm({ binary: phpFpm as string, dir: join(dir, name), children: 4 });
      }),
    );
    return {
      sockets: masters.map((m) => m.socket),
      capacity: 4,
      stop: async () => {
        await Promise.all(masters.map((m) => m.stop()));
      },
    };
  },
  failPath: '/fatal.php',
  uploadPath: '/upload.php',
  downloadPath: (bytes) => `/download.php?bytes=${bytes}`,
  slowPath: '/sleep.php?ms=500',
  skip: phpFpm === undefined,
};

function describeHttpFront(app: AppCase, extra?: (plane: () => RunningDataPlane) => void): void {
  describe.skipIf(app.skip)(`HTTP front in front of ${app.name}`, () => {
    // Made in beforeAll: a skipped or filtered-out block must not leave a directory behind.
    let temp: { path: string; remove: () => void };
    let symlink: string;
    let replicas: Replicas | undefined;
    let plane: RunningDataPlane;
    let url: string;

    beforeAll(async () => {
      temp = makeTempDir('http');
      symlink = join(temp.path, 'current');
      symlinkSync(app.release, symlink);
      replicas = await app.start(temp.path);
      plane = await startDataPlane({
        dir: temp.path,
        symlink,
        replicas: replicas.sockets.map((socket) => ({
          socket,
          capacity: replicas?.capacity ?? 1,
          release: app.release,
        })),
        http: true,
      });
      url = plane.http?.url as string;
    });

    afterAll(async () => {
      plane?.stop();
      await replicas?.stop();
      await killAllDemoApps();
      temp?.remove();
    });

    it('answers / and /release.json with the release', async () => {
      for (const path of ['/', '/release.json']) {
        const reply = await httpRequest(url, path);
        expect(reply.status, path).toBe(200);
        expect(releaseIn(reply.body), path).toBe(app.releaseName);
        expect(reply.headers['x-release'], path).toBe(app.releaseName);
      }
      const page = JSON.parse((await httpRequest(url, '/release.json')).body.toString());
      expect(page.dir).toBe(app.release);
    });

    it("passes the application's error status on", async () => {
      const reply = await httpRequest(url, app.failPath);
      expect(reply.status).toBe(500);
      expect(reply.headers['x-switchyard']).toBeUndefined();
    });

    it('passes a 10 MiB POST whole', async () => {
      const body = randomBytes(10 * MiB);
      const reply = await httpRequest(url, app.uploadPath, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body,
      });
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.body.toString())).toMatchObject({
        length: body.length,
        sha256: sha256(body),
      });
    });

    it('reads a chunked POST whole and sends its length; refuses one over the bound', async () => {
      const body = randomBytes(MiB - 1000);
      const reply = await httpRequest(url, app.uploadPath, { method: 'POST', body, chunked: true });
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.body.toString())).toMatchObject({
        length: body.length,
        sha256: sha256(body),
      });
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const tooLarge = await httpRequest(url, app.uploadPath, {
          method: 'POST',
          body: randomBytes(2 * MiB),
          chunked: true,
          agent,
        });
        expect(tooLarge.status).toBe(413);
        expect(tooLarge.headers['x-switchyard']).toBe('generated');
        // The refused body was read and dropped: the connection carries the next request.
        const next = await httpRequest(url, '/release.json', { agent });
        expect(next.status).toBe(200);
      } finally {
        agent.destroy();
      }
    });

    it('keeps the connection alive across requests', async () => {
      const { responses } = await runHttpLoad({
        url,
        requests: 5,
        concurrency: 1,
        pathFor: (i) => (i % 2 === 0 ? '/release.json' : '/'),
        timeoutMs: 10_000,
      });
      expect(responses.map((r) => [r.status, r.error])).toEqual(
        Array.from({ length: 5 }, () => [200, null]),
      );
      expect(responses.map((r) => r.connection)).toEqual([0, 0, 0, 0, 0]);
    });

    it('answers HEAD with the head only', async () => {
      const head = await httpRequest(url, app.downloadPath(1000), { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers['content-length']).toBe('1000');
      expect(head.body.length).toBe(0);
      // Pipelined behind the HEAD, the next response must start right after the HEAD's head.
      const raw = await rawExchange(
        url,
        `HEAD /release.json HTTP/1.1\r\nHost: t\r\n\r\nGET ${app.downloadPath(10)} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`,
      );
      const text = raw.toString('latin1');
      const firstHeadEnd = text.indexOf('\r\n\r\n') + 4;
      expect(text.startsWith('HTTP/1.1 200 ')).toBe(true);
      expect(text.slice(firstHeadEnd, firstHeadEnd + 13)).toBe('HTTP/1.1 200 ');
      expect(text.endsWith(`\r\n\r\n${Buffer.from(downloadPattern(10)).toString('latin1')}`)).toBe(
        true,
      );
    });

    it('refuses a path that climbs out of the document root with 400', async () => {
      for (const path of ['/../etc/passwd', '/a/%2e%2e/%2e%2e/index.php']) {
        const reply = await httpRequest(url, path);
        expect(reply.status, path).toBe(400);
        expect(reply.headers['x-switchyard'], path).toBe('generated');
      }
    });

    it('frees the backend when the client disconnects mid-download', async () => {
      const before = plane.outcomes.length;
      await new Promise<void>((resolve, reject) => {
        const { hostname, port } = new URL(url);
        const req = request(
          { host: hostname, port, path: app.downloadPath(50 * MiB), agent: false },
          (res) => {
            res.once('data', () => {
              req.destroy();
              resolve();
            });
          },
        );
        req.on('error', (error) => {
          if (!req.destroyed) reject(error);
        });
        req.end();
      });
      await waitFor(() => plane.balancer.pools().every((p) => p.inFlight === 0), {
        timeoutMs: 10_000,
        what: 'every pool to have nothing in flight',
      });
      await waitFor(
        () =>
          plane.outcomes
            .slice(before)
            .some((o) => o.kind === 'aborted' && o.reason === 'the HTTP client went away'),
        { timeoutMs: 5_000, what: 'the exchange to be aborted' },
      );
      expect((await httpRequest(url, '/release.json')).status).toBe(200);
    });

    /** A second plane over the first replica alone, with one slot. */
    async function startSmallPlane(
      name: string,
      options: { queue?: number; requestTimeoutMs?: number },
    ): Promise<RunningDataPlane> {
      const dir = join(temp.path, name);
      mkdirSync(dir);
      return startDataPlane({
        dir,
        symlink,
        replicas: [{ socket: replicas?.sockets[0] as string, capacity: 1, release: app.release }],
        ...options,
        http: true,
      });
    }

    // Each 64 KiB record is above the client socket's high-water mark, so the backend is
    // paused for back-pressure; the connection must still be reusable afterwards.
    it('reuses a backend connection after a response slowed by back-pressure', async () => {
      const small = await startSmallPlane('reuse', { requestTimeoutMs: 1_000 });
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const smallUrl = small.http?.url as string;
        // Each 64 KiB STDOUT record is above the socket's high-water mark: back-pressure.
        for (let i = 0; i < 40; i += 1) {
          const reply = await httpRequest(smallUrl, app.downloadPath(100_000 + i), { agent });
          expect(reply.status, `request ${i}`).toBe(200);
          expect(reply.body.length, `request ${i}`).toBe(100_000 + i);
        }
      } finally {
        agent.destroy();
        small.stop();
      }
    });

    it('answers 503 with Retry-After when every slot is busy and the queue is full', async () => {
      const small = await startSmallPlane('full', { queue: 0 });
      try {
        const smallUrl = small.http?.url as string;
        const slow = httpRequest(smallUrl, app.slowPath);
        await waitFor(() => small.balancer.pools()[0]?.inFlight === 1, {
          timeoutMs: 5_000,
          what: 'the slow request to hold the only slot',
        });
        const refused = await httpRequest(smallUrl, '/release.json');
        expect(refused.status).toBe(503);
        expect(refused.headers['retry-after']).toBe('1');
        expect(refused.headers['x-switchyard']).toBe('generated');
        expect((await slow).status).toBe(200);
      } finally {
        small.stop();
      }
    });

    it('shuts down gracefully: refuses new connections, finishes what it admitted', async () => {
      const small = await startSmallPlane('shutdown', {});
      try {
        const front = small.http?.frontend as HttpFrontend;
        const smallUrl = small.http?.url as string;
        const slow = httpRequest(smallUrl, app.slowPath);
        await waitFor(() => front.activeRequests === 1, {
          timeoutMs: 5_000,
          what: 'the slow request to be admitted',
        });
        front.shutdown();
        await expect(httpRequest(smallUrl, '/release.json')).rejects.toThrow(/ECONNREFUSED/);
        const answered = await slow;
        expect(answered.status).toBe(200);
        expect(answered.headers.connection).toBe('close');
        expect(front.activeRequests).toBe(0);
      } finally {
        small.stop();
      }
    });

    it('serves a 1000-request concurrent load correctly over both replicas', async () => {
      const servedBefore = plane.balancer.pools().map((p) => p.served);
      const { responses } = await runHttpLoad({
        url,
        requests: 1000,
        concurrency: 16,
        pathFor: () => '/release.json',
        timeoutMs: 20_000,
      });
      const wrong = responses.filter(
        (r) => r.error !== null || r.status !== 200 || releaseIn(r.body) !== app.releaseName,
      );
      expect(wrong.map((r) => ({ i: r.i, status: r.status, error: r.error }))).toEqual([]);
      const served = plane.balancer.pools().map((p, i) => p.served - (servedBefore[i] ?? 0));
      expect(
        served.every((n) => n > 100),
        `served per replica: ${served}`,
      ).toBe(true);
    });

    it.skipIf(!hasCurl)('works with curl: GET, and a POST with Expect: 100-continue', async () => {
      const out = await curl(['-i', `${url}/release.json`]);
      expect(out).toMatch(/^HTTP\/1\.1 200 /);
      expect(out).toMatch(/\r\nX-Release: /i);
      expect(out).toContain(`"release":"${app.releaseName}"`);
      const file = join(temp.path, 'upload.bin');
      const body = randomBytes(3 * MiB);
      writeFileSync(file, body);
      const posted = await curl([
        '-H',
        'Content-Type: application/octet-stream',
        '-H',
        'Expect: 100-continue',
        '--data-binary',
        `@${file}`,
        `${url}${app.uploadPath}`,
      ]);
      expect(JSON.parse(posted)).toMatchObject({ length: body.length, sha256: sha256(body) });
    });

    extra?.(() => plane);

    // Last on this plane: until BackendConnection resumes its socket at END_REQUEST (see the
    // regression test above), the connection this download used may be left paused in its pool.
    it('streams a 50 MiB download with the right sha256', async () => {
      const size = 50 * MiB;
      const got = await download(url, app.downloadPath(size));
      expect(got.status).toBe(200);
      expect(got.length).toBe(size);
      expect(got.headers['content-length']).toBe(String(size));
      expect(got.sha256).toBe(downloadPatternSha256(size));
    });

    it('leaves every count at zero', async () => {
      await waitFor(() => plane.balancer.pools().every((p) => p.inFlight === 0), {
        timeoutMs: 5_000,
        what: 'every pool to have nothing in flight',
      });
      expect(plane.balancer.queued).toBe(0);
    });
  });
}

describeHttpFront(demoApp);

describeHttpFront(php, (plane) => {
  it('keeps Set-Cookie as a header, and joins repeated Cookie lines for PHP', async () => {
    const url = plane().http?.url as string;
    const first = await httpRequest(url, '/session.php?hold=0');
    expect(first.status).toBe(200);
    const cookies = first.headers['set-cookie'] ?? [];
    expect(
      cookies.some((c) => c.startsWith('PHPSESSID=')),
      JSON.stringify(cookies),
    ).toBe(true);
    const raw = await rawExchange(
      url,
      'GET /echo.php?names=HTTP_COOKIE HTTP/1.1\r\nHost: t\r\nCookie: a=1\r\nCookie: b=2; c=3\r\nConnection: close\r\n\r\n',
    );
    const text = raw.toString('latin1');
    expect(text.startsWith('HTTP/1.1 200 ')).toBe(true);
    expect(text).toContain('{"HTTP_COOKIE":"a=1; b=2; c=3"}');
  });

  it('runs the front controller and pins SCRIPT_FILENAME to the release', async () => {
    const url = plane().http?.url as string;
    const page = JSON.parse((await httpRequest(url, '/any/route?x=1')).body.toString());
    expect(page).toMatchObject({
      release: 'r1',
      script: `${phpRelease}/index.php`,
      document_root: phpRelease,
    });
    const echo = await httpRequest(
      url,
      '/echo.php?names=REQUEST_URI,QUERY_STRING,SCRIPT_NAME,HTTP_X_TEST,HTTP_PROXY',
      { headers: { 'x-test': 'yes', proxy: 'http://evil.example' } },
    );
    expect(JSON.parse(echo.body.toString())).toEqual({
      REQUEST_URI: '/echo.php?names=REQUEST_URI,QUERY_STRING,SCRIPT_NAME,HTTP_X_TEST,HTTP_PROXY',
      QUERY_STRING: 'names=REQUEST_URI,QUERY_STRING,SCRIPT_NAME,HTTP_X_TEST,HTTP_PROXY',
      SCRIPT_NAME: '/echo.php',
      HTTP_X_TEST: 'yes',
      HTTP_PROXY: null,
    });
  });
});

/** One step of a scripted application's answer. */
type Step =
  | { readonly stdout: string | Buffer }
  | { readonly stderr: string }
  | { readonly end: true }
  | { readonly fail: string }
  | { readonly reject: true };

/**
 * Plays a scripted answer per REQUEST_URI, one step per event-loop turn, as a backend
 * connection would: so the sink's mapping can be tested on output no real app sends.
 */
class ScriptedApplication implements Dispatcher {
  readonly abandoned: string[] = [];
  readonly #scripts: Record<string, readonly Step[]>;

  constructor(scripts: Record<string, readonly Step[]>) {
    this.#scripts = scripts;
  }

  dispatch(exchange: Exchange): void {
    const uri = exchange.params.get('REQUEST_URI') ?? '';
    const steps = this.#scripts[uri] ?? [{ stdout: 'Status: 404\r\n\r\n' }, { end: true }];
    let abandoned = false;
    const attempt: BackendAttempt = {
      pause: () => {},
      resume: () => {},
      abandon: () => {
        abandoned = true;
        this.abandoned.push(uri);
      },
    };
    exchange.started(attempt);
    const play = (i: number) => {
      const step = steps[i];
      if (step === undefined || abandoned || exchange.state === 'done') return;
      if ('stdout' in step) exchange.onStdout(Buffer.from(step.stdout));
      else if ('stderr' in step) exchange.onStderr(Buffer.from(step.stderr));
      else if ('end' in step) exchange.onEnd(0);
      else if ('fail' in step) exchange.onBackendFailure(new Error(step.fail));
      else exchange.reject(new BalancerError('ERR_QUEUE_FULL', 'scripted'));
      setImmediate(() => play(i + 1));
    };
    setImmediate(() => play(0));
  }

  retry(exchange: Exchange): void {
    this.dispatch(exchange);
  }

  forget(): void {}

  finished(): void {}
}

describe('HTTP front: mapping CGI output to HTTP responses', () => {
  const app = new ScriptedApplication({
    '/split-head': [
      { stdout: 'Status: 201 Made\r\nSet-Cookie: a=1\r\nSet-' },
      { stdout: 'Cookie: b=2\r\nX-Multi: 1\r\nx-multi: 2\r\nConnection: close, X-Hop\r\n' },
      { stdout: 'X-Hop: secret\r\nKeep-Alive: timeout=1\r\nTransfer-Encoding: chunked\r\n' },
      { stdout: 'Content-Type: text/plain\n\nhel' },
      { stdout: 'lo' },
      { end: true },
    ],
    '/location': [{ stdout: 'Location: /elsewhere\r\n\r\n' }, { end: true }],
    '/lf-only': [{ stdout: 'Content-Type: text/plain\nContent-Length: 2\n\nok' }, { end: true }],
    '/no-head': [{ stdout: 'no blank line ever' }, { end: true }],
    '/huge-head': [
      { stdout: 'X-A: b\r\n'.repeat(5000) },
      { stdout: 'X-A: b\r\n'.repeat(5000) },
      { stdout: '\r\nnever' },
      { end: true },
    ],
    '/bad-status': [{ stdout: 'Status: 099 Odd\r\n\r\n' }, { end: true }],
    '/bad-header': [{ stdout: 'Bad Name: v\r\n\r\nbody' }, { end: true }],
    '/bad-length': [{ stdout: 'Content-Length: 3\r\nContent-Length: 4\r\n\r\nabc' }, { end: true }],
    '/short': [{ stdout: 'Content-Length: 10\r\n\r\nabc' }, { end: true }],
    '/long': [{ stdout: 'Content-Length: 3\r\n\r\nabcdef' }, { stdout: 'ghi' }, { end: true }],
    '/midway': [{ stdout: 'Content-Type: text/plain\r\n\r\npart' }, { fail: 'crashed' }],
    '/stderr-then-crash': [{ stderr: 'PHP Warning: x' }, { fail: 'crashed' }],
    '/rejected': [{ reject: true }],
    '/no-content': [{ stdout: 'Status: 204\r\n\r\nignored' }, { end: true }],
  });
  const outcomes: ExchangeOutcome[] = [];
  let front: HttpFrontend;
  let url: string;

  beforeAll(async () => {
    front = await HttpFrontend.start(
      { kind: 'tcp', host: '127.0.0.1', port: 0 },
      {
        dispatcher: app,
        logger: silentLogger(),
        limits: {
          maxConnections: 1024,
          clientIdleTimeoutMs: 120_000,
          retryBodyBytes: MiB,
          requestTimeoutMs: 5_000,
          maxAttempts: 1,
        },
        site: { documentRoot: '/srv/app/current', index: 'index.php' },
        onOutcome: (_exchange, outcome) => outcomes.push(outcome),
      },
    );
    url = `http://127.0.0.1:${front.port}`;
  });

  afterAll(() => {
    front?.stopAccepting();
    front?.destroyAll();
  });

  it('writes the status, repeated headers apart, and drops hop-by-hop headers', async () => {
    const reply = await httpRequest(url, '/split-head');
    expect(reply.status).toBe(201);
    expect(reply.body.toString()).toBe('hello');
    expect(reply.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(reply.headers['x-multi']).toBe('1, 2');
    expect(reply.headers['x-hop']).toBeUndefined();
    // Node frames the body itself: chunked, as the application sent no Content-Length.
    expect(reply.headers['transfer-encoding']).toBe('chunked');
    expect(reply.headers['keep-alive']).not.toBe('timeout=1');
    const raw = (
      await rawExchange(url, 'GET /split-head HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')
    ).toString('latin1');
    expect(raw.startsWith('HTTP/1.1 201 Made\r\n')).toBe(true);
  });

  it('answers a Location without Status as 302, and accepts bare-LF heads', async () => {
    const moved = await httpRequest(url, '/location');
    expect(moved.status).toBe(302);
    expect(moved.headers.location).toBe('/elsewhere');
    const lf = await httpRequest(url, '/lf-only');
    expect([lf.status, lf.body.toString()]).toEqual([200, 'ok']);
  });

  it.each([
    ['/no-head', false],
    ['/huge-head', true],
    ['/bad-status', true],
    ['/bad-header', true],
    ['/bad-length', true],
    ['/stderr-then-crash', false],
  ])('answers 502 for unusable output at %s', async (path, abandons) => {
    const reply = await httpRequest(url, path);
    expect(reply.status).toBe(502);
    expect(reply.headers['x-switchyard']).toBe('generated');
    expect(app.abandoned.includes(path)).toBe(abandons);
  });

  it('cuts off a response shorter than its Content-Length, and one failing midway', async () => {
    await expect(httpRequest(url, '/short')).rejects.toThrow();
    await expect(httpRequest(url, '/midway')).rejects.toThrow();
  });

  it('drops bytes past the Content-Length, so the connection stays usable', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await httpRequest(url, '/long', { agent });
      expect(first.body.toString()).toBe('abc');
      const second = await httpRequest(url, '/lf-only', { agent });
      expect(second.body.toString()).toBe('ok');
    } finally {
      agent.destroy();
    }
  });

  it('passes a generated 503 on with Retry-After, and 204 without a body', async () => {
    const rejected = await httpRequest(url, '/rejected');
    expect(rejected.status).toBe(503);
    expect(rejected.headers['retry-after']).toBe('1');
    const empty = await httpRequest(url, '/no-content');
    expect([empty.status, empty.body.length]).toEqual([204, 0]);
  });

  it('has nothing left in flight', async () => {
    await waitFor(() => front.activeRequests === 0, {
      timeoutMs: 5_000,
      what: 'no active request',
    });
    expect(outcomes.some((o) => o.kind === 'failed-midway')).toBe(true);
  });
});

import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fcgiExchange, phpParams } from '../support/fcgi-exchange.js';
import { type HttpLoadResponse, runHttpLoad, summarise } from '../support/http-load.js';
import { type RunningNginx, startNginx } from '../support/nginx.js';
import { type RunningPhpFpm, startPhpFpm } from '../support/php-fpm.js';
import { repoRoot } from '../support/repo-root.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

const nginxBinary = requireSystemTool(SystemTool.nginx);
const phpFpmBinary = requireSystemTool(SystemTool.phpFpm);
const release = realpathSync(join(repoRoot, 'fixtures/php/releases/r1'));
const CHILDREN = 4;

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function json(response: HttpLoadResponse): Record<string, unknown> {
  return JSON.parse(response.body.toString()) as Record<string, unknown>;
}

/** What each failed request said, so a failure shows the cause and not just a count. */
function failures(responses: readonly HttpLoadResponse[]): string[] {
  return responses
    .filter((r) => r.error !== null || r.status !== 200)
    .slice(0, 5)
    .map((r) => `#${r.i}: ${r.status} ${r.error ?? r.body.toString().slice(0, 200)}`);
}

// The peer path the benchmarks compare switchyard against: nginx straight to one php-fpm pool.
describe.skipIf(nginxBinary === undefined || phpFpmBinary === undefined)(
  'real nginx in front of real php-fpm',
  () => {
    const temp = makeTempDir('nginx-fpm');
    let fpm: RunningPhpFpm | undefined;
    let nginx: RunningNginx | undefined;
    let nginxNoKeep: RunningNginx | undefined;

    beforeAll(async () => {
      fpm = await startPhpFpm({
        binary: phpFpmBinary as string,
        dir: temp.path,
        children: CHILDREN,
      });
      const common = {
        binary: nginxBinary as string,
        fastcgiPass: `unix:${fpm.socket}`,
        documentRoot: release,
        // A php-fpm child serving a kept-alive connection accepts no other: with as many idle
        // connections cached as there are children, requests on fresh connections starved in
        // the listen backlog (28 of 2000 at concurrency 32 with keepalive 32). One fewer keeps
        // a child free to accept.
        upstreamKeepalive: CHILDREN - 1,
      };
      const keepDir = join(temp.path, 'keep');
      const noKeepDir = join(temp.path, 'nokeep');
      mkdirSync(keepDir);
      mkdirSync(noKeepDir);
      // One at a time, so afterAll can stop whichever started if the other fails.
      nginx = await startNginx({ ...common, dir: keepDir, keepConn: true });
      nginxNoKeep = await startNginx({ ...common, dir: noKeepDir, keepConn: false });
    });

    afterAll(async () => {
      await Promise.all([nginx?.stop(), nginxNoKeep?.stop()]);
      await fpm?.stop();
      temp.remove();
    });

    // First: nginx with keep_conn on keeps idle connections (and so children) after its runs.
    it('serves 500 GETs at concurrency 32 with fastcgi_keep_conn off', async () => {
      const result = await runHttpLoad({
        url: (nginxNoKeep as RunningNginx).url,
        requests: 500,
        concurrency: 32,
        pathFor: () => '/index.php',
        timeoutMs: 20_000,
      });
      expect(failures(result.responses)).toEqual([]);
      for (const response of result.responses) expect(json(response).release).toBe('r1');
    });

    it('serves 2000 GETs at concurrency 32 over kept-alive FastCGI connections, all from r1', async () => {
      const result = await runHttpLoad({
        url: (nginx as RunningNginx).url,
        requests: 2000,
        concurrency: 32,
        pathFor: (i) => `/index.php?i=${i}`,
        timeoutMs: 20_000,
      });
      expect(failures(result.responses)).toEqual([]);
      expect(result.responses.map((r) => r.i)).toEqual([...Array(2000).keys()]);
      const summary = summarise(result);
      expect(summary).toMatchObject({ ok: 2000, failed: 0, byStatus: { '200': 2000 } });
      const pids = new Set<unknown>();
      for (const response of result.responses) {
        const page = json(response);
        expect(page).toMatchObject({ release: 'r1', dir: release, document_root: release });
        expect(page.script).toBe(`${release}/index.php`);
        expect(response.headers['x-release']).toBe('r1');
        pids.add(page.pid);
      }
      expect(pids.size).toBeLessThanOrEqual(CHILDREN);
      // The client kept its connections alive too: no more sockets than the concurrency.
      expect(new Set(result.responses.map((r) => r.connection)).size).toBeLessThanOrEqual(32);
      process.stdout.write(`nginx→php-fpm GET keep_conn on: ${JSON.stringify(summary)}\n`);
    });

    it('passes 200 uploads of 64 KiB at concurrency 16 whole', async () => {
      const bodies = Array.from({ length: 200 }, () => randomBytes(64 * 1024));
      const result = await runHttpLoad({
        url: (nginx as RunningNginx).url,
        requests: bodies.length,
        concurrency: 16,
        method: 'POST',
        pathFor: () => '/upload.php',
        bodyFor: (i) => bodies[i],
        timeoutMs: 20_000,
      });
      expect(failures(result.responses)).toEqual([]);
      for (const response of result.responses) {
        const body = bodies[response.i] as Buffer;
        expect(json(response)).toEqual({
          release: 'r1',
          length: body.length,
          sha256: sha256(body),
        });
      }
    });

    it('answers fast requests while a slow one holds a worker', async () => {
      const url = (nginx as RunningNginx).url;
      const slow = runHttpLoad({
        url,
        requests: 1,
        concurrency: 1,
        pathFor: () => '/sleep.php?ms=300',
        timeoutMs: 20_000,
      });
      // The fast requests start only once php-fpm reports a child inside sleep.php.
      await waitFor(
        async () => {
          const status = await fcgiExchange((fpm as RunningPhpFpm).socket, {
            params: phpParams('/', '/fpm-status', { QUERY_STRING: 'json&full' }),
          });
          const { processes } = JSON.parse(status.body.toString()) as {
            processes: { state: string; 'request uri': string }[];
          };
          return processes.some(
            (p) => p.state === 'Running' && p['request uri'].startsWith('/sleep.php'),
          );
        },
        { timeoutMs: 5_000, what: 'php-fpm to run sleep.php' },
      );
      const fast = await runHttpLoad({
        url,
        requests: 12,
        concurrency: 2,
        pathFor: () => '/index.php',
        timeoutMs: 20_000,
      });
      const [sleeper] = (await slow).responses;
      if (sleeper === undefined) throw new Error('no slow response');
      expect(failures([sleeper, ...fast.responses])).toEqual([]);
      const sleep = json(sleeper);
      expect(sleep).toMatchObject({ release: 'r1', slept: 300 });
      const slowEnd = sleeper.startedAt + sleeper.latencyMs;
      for (const response of fast.responses) {
        expect(response.startedAt).toBeGreaterThan(sleeper.startedAt);
        expect(response.startedAt + response.latencyMs).toBeLessThan(slowEnd);
        expect(json(response).pid).not.toBe(sleep.pid);
      }
    });

    it('left nothing in nginx’s error log', () => {
      for (const server of [nginx, nginxNoKeep]) {
        const lines = (server as RunningNginx).output().split('\n');
        expect(lines.filter((line) => /\[(error|crit|alert|emerg)\]/.test(line))).toEqual([]);
      }
    });
  },
);

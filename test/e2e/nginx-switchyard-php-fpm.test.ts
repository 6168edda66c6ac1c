import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { downloadPatternSha256, sha256 } from '../support/download-pattern.js';
import { runHttpLoad, summarise } from '../support/http-load.js';
import { type RunningNginx, startNginx } from '../support/nginx.js';
import type { RunningPhpFpm } from '../support/php-fpm.js';
import { phpRelease, startPhpReplicasAndSwitchyard } from '../support/php-stack.js';
import type { SwitchyardProcess } from '../support/switchyard-process.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { waitFor } from '../support/wait-for.js';

const phpFpm = requireSystemTool(SystemTool.phpFpm);
const nginx = requireSystemTool(SystemTool.nginx);
const release = phpRelease;

interface Stack {
  readonly nginx: RunningNginx;
  readonly switchyard: SwitchyardProcess;
  readonly masters: RunningPhpFpm[];
  readonly symlink: string;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** nginx (document root = the release symlink) → switchyard daemon → two php-fpm masters. */
async function startStack(
  options: { children?: number; maxRequests?: number; keepConn?: boolean } = {},
): Promise<Stack> {
  const children = options.children ?? 4;
  const php = await startPhpReplicasAndSwitchyard({
    phpFpm: phpFpm as string,
    label: 'e2e',
    children,
    capacity: children,
    ...(options.maxRequests === undefined ? {} : { maxRequests: options.maxRequests }),
    switchyardStopSignal: 'SIGKILL',
  });
  cleanups.push(php.cleanup);
  const { masters, switchyard, symlink } = php;
  mkdirSync(join(php.dir, 'nginx'));
  const front = await startNginx({
    binary: nginx as string,
    dir: join(php.dir, 'nginx'),
    fastcgiPass: `unix:${php.fastcgiSocket}`,
    documentRoot: symlink,
    keepConn: options.keepConn ?? true,
  });
  cleanups.push(() => front.stop());
  return { nginx: front, switchyard, masters, symlink };
}

describe.skipIf(phpFpm === undefined || nginx === undefined)(
  'end to end: nginx → switchyard → two php-fpm masters',
  () => {
    it('serves a concurrent load with every response correct, from the pinned release', async () => {
      const stack = await startStack();
      const result = await runHttpLoad({
        url: stack.nginx.url,
        requests: 2000,
        concurrency: 32,
        pathFor: () => '/index.php',
        timeoutMs: 60_000,
      });
      const summary = summarise(result);
      expect(summary.failed).toBe(0);
      expect(summary.byStatus['200']).toBe(2000);
      for (const response of result.responses) {
        const page = JSON.parse(response.body.toString());
        // nginx sends the symlink path; switchyard pinned it to the release directory.
        expect(page.script).toBe(`${release}/index.php`);
        expect(page.release).toBe('r1');
      }
    });

    it('serves nginx with fastcgi_keep_conn off (a connection per request) as well', async () => {
      const stack = await startStack({ keepConn: false });
      const result = await runHttpLoad({
        url: stack.nginx.url,
        requests: 1000,
        concurrency: 16,
        pathFor: () => '/index.php',
        timeoutMs: 60_000,
      });
      expect(summarise(result).byStatus['200']).toBe(1000);
    });

    it('loses nothing when both masters recycle every child (pm.max_requests = 1, keep_conn on)', async () => {
      const stack = await startStack({ maxRequests: 1 });
      const result = await runHttpLoad({
        url: stack.nginx.url,
        requests: 1000,
        concurrency: 16,
        pathFor: () => '/index.php',
        timeoutMs: 60_000,
      });
      expect(summarise(result).failed).toBe(0);
      expect(summarise(result).byStatus['200']).toBe(1000);
    });

    it('passes a 10 MiB upload and 50 MiB downloads whole, with bounded daemon memory', async () => {
      const stack = await startStack();
      const rssBefore = stack.switchyard.peakRss();
      const upload = randomBytes(10 * 1024 * 1024);
      const uploaded = await runHttpLoad({
        url: stack.nginx.url,
        requests: 1,
        concurrency: 1,
        method: 'POST',
        pathFor: () => '/upload.php',
        bodyFor: () => upload,
        timeoutMs: 30_000,
      });
      expect(JSON.parse(uploaded.responses[0]?.body.toString() ?? '{}')).toMatchObject({
        length: upload.length,
        sha256: sha256(upload),
      });
      const size = 50 * 1024 * 1024;
      const expectedSha = downloadPatternSha256(size);
      // Three in a row: 160 MiB through the daemon in all, so buffering shows beyond GC slack.
      for (let round = 0; round < 3; round += 1) {
        const downloaded = await runHttpLoad({
          url: stack.nginx.url,
          requests: 1,
          concurrency: 1,
          pathFor: () => `/download.php?bytes=${size}`,
          timeoutMs: 30_000,
        });
        const body = downloaded.responses[0]?.body ?? Buffer.alloc(0);
        expect(body.length).toBe(size);
        expect(sha256(body)).toBe(expectedSha);
      }
      // Garbage not yet collected accounts for some growth (up to ~48 MiB seen under a
      // loaded machine); a buffered body would add 50 MiB per download on top of it.
      const growth = stack.switchyard.peakRss() - rssBefore;
      expect(growth).toBeLessThan(64 * 1024 * 1024);
    });

    it('on SIGTERM finishes the slow requests in flight, then exits 0', async () => {
      const stack = await startStack();
      const slow = Array.from(
        { length: 3 },
        () =>
          new Promise<number>((resolve, reject) => {
            request(`${stack.nginx.url}/sleep.php?ms=1500`, (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            })
              .on('error', reject)
              .end();
          }),
      );
      await waitFor(() => (stack.switchyard.stdout().match(/"msg"/g)?.length ?? 0) >= 1, {
        timeoutMs: 2_000,
        what: 'the daemon log',
      });
      // The requests are in the daemon once php-fpm's status shows them running.
      await waitFor(
        async () => {
          const statuses = await Promise.all(
            stack.masters.map(async (m) => {
              const { fcgiExchange, phpParams } = await import('../support/fcgi-exchange.js');
              const status = await fcgiExchange(m.socket, {
                params: phpParams('/', '/fpm-status', { QUERY_STRING: 'json&full' }),
              });
              return status.body.toString().match(/sleep\.php/g)?.length ?? 0;
            }),
          );
          return statuses.reduce((a, b) => a + b, 0) >= 3;
        },
        { timeoutMs: 5_000, what: 'three slow requests running in php-fpm' },
      );
      stack.switchyard.child.kill('SIGTERM');
      expect(await Promise.all(slow)).toEqual([200, 200, 200]);
      expect(await stack.switchyard.exited).toBe(0);
    });
  },
);

import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApache } from '../support/apache.js';
import { fcgiExchange, phpParams } from '../support/fcgi-exchange.js';
import { runHttpLoad, summarise } from '../support/http-load.js';
import { startLighttpd } from '../support/lighttpd.js';
import type { RunningPhpFpm } from '../support/php-fpm.js';
import { phpRelease, startPhpReplicasAndSwitchyard } from '../support/php-stack.js';
import type { SwitchyardProcess } from '../support/switchyard-process.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { waitFor } from '../support/wait-for.js';

const phpFpm = requireSystemTool(SystemTool.phpFpm);
const release = phpRelease;
const capacity = 4;

interface WebServerOptions {
  readonly dir: string;
  readonly fastcgiAddress: string;
  readonly documentRoot: string;
}

interface RunningWebServer {
  readonly url: string;
  readonly stop: () => Promise<void>;
}

/** Both web servers run the shipped deploy/<name>/switchyard.conf, paths substituted. */
const webServers: ReadonlyArray<{
  readonly name: string;
  readonly binary: string | undefined;
  readonly software: RegExp;
  readonly start: (binary: string, options: WebServerOptions) => Promise<RunningWebServer>;
}> = [
  {
    name: 'Apache httpd (mod_proxy_fcgi)',
    binary: requireSystemTool(SystemTool.apache2),
    software: /^Apache\//,
    start: (binary, options) => startApache({ binary, ...options }),
  },
  {
    name: 'lighttpd (mod_fastcgi)',
    binary: requireSystemTool(SystemTool.lighttpd),
    software: /^lighttpd\//,
    start: (binary, options) => startLighttpd({ binary, ...options }),
  },
];

interface Stack {
  readonly web: RunningWebServer;
  readonly switchyard: SwitchyardProcess;
  readonly masters: RunningPhpFpm[];
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** One GET, resolving with the status, body and when the body ended. */
function get(url: string): Promise<{ status: number; body: string; endedAt: number }> {
  return new Promise((resolve, reject) => {
    request(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString(),
          endedAt: performance.now(),
        }),
      );
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

/** How many requests for `script` the masters' workers are running now (php-fpm's status). */
async function running(masters: readonly RunningPhpFpm[], script: string): Promise<number> {
  const counts = await Promise.all(
    masters.map(async (master) => {
      const status = await fcgiExchange(master.socket, {
        params: phpParams('/', '/fpm-status', { QUERY_STRING: 'json&full' }),
      });
      const processes = (JSON.parse(status.body.toString()) as { processes: unknown[] }).processes;
      return processes.filter((p) => {
        const { state, script: path } = p as { state: string; script: string };
        return state === 'Running' && path.endsWith(script);
      }).length;
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}

for (const server of webServers) {
  describe.skipIf(phpFpm === undefined || server.binary === undefined)(
    `end to end: ${server.name} → switchyard → two php-fpm masters`,
    () => {
      const cleanups: Array<() => Promise<void> | void> = [];
      let stack: Stack;

      // One stack for the file's tests: they only read, and starting it is most of the time.
      beforeAll(async () => {
        const php = await startPhpReplicasAndSwitchyard({
          phpFpm: phpFpm as string,
          label: 'web',
          // Apache run as root serves from `daemon`, which must reach the socket and the symlink.
          dirMode: 0o755,
          // One child above switchyard's capacity: its idle kept-alive connections hold the
          // other children, and the test's status probe needs one to answer.
          children: capacity + 1,
          capacity,
          switchyardStopSignal: 'SIGTERM',
        });
        cleanups.push(php.cleanup);
        const { masters, switchyard } = php;
        mkdirSync(join(php.dir, 'web'));
        const web = await server.start(server.binary as string, {
          dir: join(php.dir, 'web'),
          fastcgiAddress: php.fastcgiSocket,
          documentRoot: php.symlink,
        });
        cleanups.push(() => web.stop());
        stack = { web, switchyard, masters };
      });

      afterAll(async () => {
        for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
      });

      it('sends the params PHP needs, with paths pinned to the release directory', async () => {
        const names = 'SCRIPT_FILENAME,DOCUMENT_ROOT,SCRIPT_NAME,PATH_INFO,SERVER_SOFTWARE';
        const response = await get(`${stack.web.url}/echo.php/extra/path?names=${names}`);
        expect(response.status).toBe(200);
        const params = JSON.parse(response.body) as Record<string, string | null>;
        expect(params).toMatchObject({
          // The server sent the symlink path; switchyard pinned it.
          SCRIPT_FILENAME: `${release}/echo.php`,
          DOCUMENT_ROOT: release,
          SCRIPT_NAME: '/echo.php',
          PATH_INFO: '/extra/path',
        });
        expect(params.SERVER_SOFTWARE).toMatch(server.software);
      });

      it('serves a concurrent load with every response correct, from the pinned release', async () => {
        const result = await runHttpLoad({
          url: stack.web.url,
          requests: 500,
          concurrency: 16,
          pathFor: () => '/index.php',
          timeoutMs: 20_000,
        });
        const summary = summarise(result);
        expect(summary.byStatus).toEqual({ '200': 500 });
        for (const response of result.responses) {
          const page = JSON.parse(response.body.toString());
          expect(page).toMatchObject({
            release: 'r1',
            script: `${release}/index.php`,
            document_root: release,
          });
        }
      });

      it('passes a 2 MiB upload whole', async () => {
        const upload = randomBytes(2 * 1024 * 1024);
        const result = await runHttpLoad({
          url: stack.web.url,
          requests: 1,
          concurrency: 1,
          method: 'POST',
          pathFor: () => '/upload.php',
          bodyFor: () => upload,
          timeoutMs: 10_000,
        });
        const response = result.responses[0];
        expect(response?.error).toBeNull();
        expect(response?.status).toBe(200);
        expect(JSON.parse(response?.body.toString() ?? '{}')).toEqual({
          release: 'r1',
          length: upload.length,
          sha256: sha256(upload),
        });
      });

      it('answers 500 for a PHP fatal error', async () => {
        expect((await get(`${stack.web.url}/fatal.php`)).status).toBe(500);
      });

      it('serves fast requests while a slow one runs', async () => {
        const slow = get(`${stack.web.url}/sleep.php?ms=300`);
        // From here the slow request holds a php-fpm child; the fast ones must go around it.
        await waitFor(async () => (await running(stack.masters, '/sleep.php')) === 1, {
          timeoutMs: 5_000,
          what: 'the slow request to run in php-fpm',
        });
        const fast = await runHttpLoad({
          url: stack.web.url,
          requests: 8,
          concurrency: 8,
          pathFor: () => '/index.php',
          timeoutMs: 10_000,
        });
        const fastEndedAt = performance.now();
        const slowResponse = await slow;
        expect(summarise(fast).byStatus).toEqual({ '200': 8 });
        expect(slowResponse.status).toBe(200);
        expect(JSON.parse(slowResponse.body)).toMatchObject({ release: 'r1', slept: 300 });
        expect(fastEndedAt).toBeLessThan(slowResponse.endedAt);
      });
    },
  );
}

import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, realpathSync } from 'node:fs';
import type { OutgoingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { caddySnippetPath, type RunningCaddy, startCaddy } from '../support/caddy.js';
import { backwardSteps, failures, startMixedPhpLoad } from '../support/deploy-load.js';
import { type HttpLoadResponse, runHttpLoad, summarise } from '../support/http-load.js';
import type { ManagedDaemon } from '../support/managed-daemon.js';
import { PHP_R1, PHP_R2, RELEASE_HEADER, startPhpFpmDaemon } from '../support/php-fpm-daemon.js';
import { repoRoot } from '../support/repo-root.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';

const phpFpm = requireSystemTool(SystemTool.phpFpm);
const caddy = requireSystemTool(SystemTool.caddy);

interface Stack {
  readonly daemon: ManagedDaemon;
  readonly caddy: RunningCaddy;
}

/**
 * switchyard running two php-fpm replicas with the shipped pool template (its 64M upload
 * limits), and a real Caddy in front running the shipped deploy/caddy/Caddyfile.
 */
async function startStack(label: string, cleanups: Array<() => Promise<void>>): Promise<Stack> {
  const daemon = await startPhpFpmDaemon({
    label,
    phpFpm: phpFpm as string,
    capacity: 6,
    pool: join(repoRoot, 'deploy/php-fpm/pool.conf'),
    warmup: ['/index.php'],
    deployLimits: ['timeout = "60s"'],
  });
  cleanups.push(() => daemon.cleanup());
  const dir = join(daemon.dir, 'caddy');
  mkdirSync(dir);
  const front = await startCaddy({
    binary: caddy as string,
    dir,
    fastcgiAddress: daemon.fastcgiSocket,
    documentRoot: daemon.symlink,
  });
  cleanups.push(() => front.stop());
  return { daemon, caddy: front };
}

async function runCleanups(cleanups: Array<() => Promise<void>>): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}

/** One request through Caddy; the whole response, whatever its status. */
async function send(
  url: string,
  path: string,
  request: { method?: string; body?: Buffer; headers?: OutgoingHttpHeaders } = {},
): Promise<HttpLoadResponse> {
  const result = await runHttpLoad({
    url,
    requests: 1,
    concurrency: 1,
    method: request.method ?? 'GET',
    pathFor: () => path,
    bodyFor: () => request.body,
    headersFor: () => request.headers,
    timeoutMs: 30_000,
  });
  const response = result.responses[0] as HttpLoadResponse;
  expect(response.error).toBeNull();
  return response;
}

const json = (response: HttpLoadResponse): Record<string, unknown> =>
  JSON.parse(response.body.toString()) as Record<string, unknown>;

/** A multipart/form-data body with text fields and files, as a browser's form sends it. */
function multipart(
  fields: Record<string, string>,
  files: Record<string, { name: string; bytes: Buffer }>,
): { body: Buffer; contentType: string } {
  const boundary = `----switchyard${randomBytes(12).toString('hex')}`;
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    parts.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`,
      ),
    );
  }
  for (const [name, file] of Object.entries(files)) {
    parts.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${file.name}"\r\n` +
          'Content-Type: application/octet-stream\r\n\r\n',
      ),
      file.bytes,
      Buffer.from('\r\n'),
    );
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

describe.skipIf(caddy === undefined)('deploy/caddy/Caddyfile', () => {
  it('is formatted as caddy fmt writes it (Caddy warns at every start otherwise)', async () => {
    const { stdout } = await promisify(execFile)(caddy as string, ['fmt', caddySnippetPath]);
    expect(stdout).toBe(readFileSync(caddySnippetPath, 'utf8'));
  });
});

describe.skipIf(phpFpm === undefined || caddy === undefined)(
  'end to end: Caddy (php_fastcgi) → switchyard → php-fpm replicas it runs',
  () => {
    const cleanups: Array<() => Promise<void>> = [];
    let stack: Stack;
    let release: string;

    // One stack for these tests: they only read, and starting it is most of the time.
    beforeAll(async () => {
      stack = await startStack('caddy', cleanups);
      release = stack.daemon.release;
    });
    afterAll(() => runCleanups(cleanups));

    it('passes a GET with its query, with the paths Caddy sends pinned to the release', async () => {
      const names = [
        'SCRIPT_FILENAME',
        'DOCUMENT_ROOT',
        'SCRIPT_NAME',
        'PATH_INFO',
        'PATH_TRANSLATED',
        'QUERY_STRING',
        'REQUEST_URI',
        'SERVER_SOFTWARE',
      ].join(',');
      const response = await send(stack.caddy.url, `/echo.php/extra/path?names=${names}&x=1`);
      expect(response.status).toBe(200);
      expect(json(response)).toEqual({
        // Caddy sent the symlink path (its root, unresolved); switchyard pinned it.
        SCRIPT_FILENAME: `${release}/echo.php`,
        DOCUMENT_ROOT: release,
        SCRIPT_NAME: '/echo.php',
        PATH_INFO: '/extra/path',
        PATH_TRANSLATED: `${release}/extra/path`,
        QUERY_STRING: `names=${names}&x=1`,
        REQUEST_URI: `/echo.php/extra/path?names=${names}&x=1`,
        SERVER_SOFTWARE: expect.stringMatching(/^Caddy\//),
      });
      const query = await send(stack.caddy.url, '/form.php?colour=blue&list[]=1&list[]=2');
      expect(json(query)).toMatchObject({
        release: 'r1',
        method: 'GET',
        query: { colour: 'blue', list: ['1', '2'] },
      });
    });

    it('passes a POSTed form to $_POST', async () => {
      const response = await send(stack.caddy.url, '/form.php?from=query', {
        method: 'POST',
        body: Buffer.from('name=switch%20yard&list%5B%5D=a&list%5B%5D=b'),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(response.status).toBe(200);
      expect(json(response)).toEqual({
        release: 'r1',
        method: 'POST',
        query: { from: 'query' },
        post: { name: 'switch yard', list: ['a', 'b'] },
        files: {},
      });
    });

    it('passes a 24 MiB multipart upload whole to $_FILES', async () => {
      const file = randomBytes(24 * 1024 * 1024);
      const form = multipart(
        { title: 'release notes' },
        { upload: { name: 'big.bin', bytes: file } },
      );
      const response = await send(stack.caddy.url, '/form.php', {
        method: 'POST',
        body: form.body,
        headers: { 'content-type': form.contentType },
      });
      expect(response.status).toBe(200);
      expect(json(response)).toEqual({
        release: 'r1',
        method: 'POST',
        query: [],
        post: { title: 'release notes' },
        files: { upload: { name: 'big.bin', size: file.length, error: 0, sha256: sha256(file) } },
      });
    });

    it('answers 500 for a PHP fatal error', async () => {
      expect((await send(stack.caddy.url, '/fatal.php')).status).toBe(500);
    });

    it('sends a path that is no file to index.php, the front controller, in the release', async () => {
      const response = await send(stack.caddy.url, '/no/such/page.php');
      expect(response.status).toBe(200);
      expect(json(response)).toMatchObject({ release: 'r1', script: `${release}/index.php` });
    });

    it('serves a concurrent load with every response correct, from the pinned release', async () => {
      const result = await runHttpLoad({
        url: stack.caddy.url,
        requests: 400,
        concurrency: 16,
        pathFor: () => '/index.php',
        timeoutMs: 30_000,
      });
      expect(summarise(result).byStatus).toEqual({ '200': 400 });
      for (const response of result.responses) {
        expect(json(response)).toMatchObject({
          release: 'r1',
          script: `${release}/index.php`,
          document_root: release,
        });
      }
    });
  },
);

describe.skipIf(phpFpm === undefined || caddy === undefined)(
  'deploys behind Caddy: Caddy → switchyard → php-fpm replicas it runs',
  () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(() => runCleanups(cleanups));

    it('4 deploys under load: no failure, the release switches each time, never old after new', {
      timeout: 180_000,
    }, async () => {
      const { daemon, caddy: front } = await startStack('caddy-deploy', cleanups);
      // Fast pages, 1–2 s sleeps and 256 KiB uploads, as in the nginx deploy test.
      const load = startMixedPhpLoad(front.url, RELEASE_HEADER);
      for (let k = 1; k <= 4; k += 1) {
        const dir = daemon.addRelease(`d${k}`, k % 2 === 1 ? PHP_R2 : PHP_R1);
        const result = await daemon.cli(['deploy', dir]);
        expect(result.code, `deploy ${k}: ${result.stderr}${result.stdout}`).toBe(0);
        expect(realpathSync(daemon.symlink)).toBe(dir);
        // The next page through Caddy comes from the new release.
        const page = await send(front.url, '/index.php');
        expect(page.headers[RELEASE_HEADER.toLowerCase()]).toBe(`d${k}`);
        expect(json(page)).toMatchObject({ release: k % 2 === 1 ? 'r2' : 'r1', dir });
      }
      const batches = await load.stop();
      expect(failures(batches)).toEqual([]);
      expect(backwardSteps(batches, RELEASE_HEADER, (name) => Number(name.slice(1)))).toEqual([]);
      // Each answer came whole from the release its header names.
      for (const response of batches.flat()) {
        const served = String(response.headers[RELEASE_HEADER.toLowerCase()]);
        const page = json(response) as { release: string };
        expect(page.release, `answered by ${served}`).toBe(
          Number(served.slice(1)) % 2 === 1 ? 'r2' : 'r1',
        );
      }
      const answered = new Set(
        batches.flat().map((r) => String(r.headers[RELEASE_HEADER.toLowerCase()])),
      );
      expect(answered.size).toBeGreaterThanOrEqual(4);
      expect((await daemon.status()).servingRelease).toBe(
        realpathSync(join(daemon.dir, 'releases/d4')),
      );
    });
  },
);

import { randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8AsLatin1 } from '../../src/protocol/name-value-pairs.js';
import { downloadPatternSha256, sha256 } from '../support/download-pattern.js';
import { FcgiTestConnection, fcgiExchange, phpParams } from '../support/fcgi-exchange.js';
import { type RunningPhpFpm, startPhpFpm } from '../support/php-fpm.js';
import { repoRoot } from '../support/repo-root.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { makeTempDir } from '../support/temp-dir.js';

const phpFpm = requireSystemTool(SystemTool.phpFpm);
const release = realpathSync(join(repoRoot, 'fixtures/php/releases/r1'));

describe.skipIf(phpFpm === undefined)('our FastCGI codec against the real php-fpm', () => {
  const temp = makeTempDir('interop');
  let fpm: RunningPhpFpm;

  beforeAll(async () => {
    fpm = await startPhpFpm({ binary: phpFpm as string, dir: temp.path, children: 3 });
  });

  afterAll(async () => {
    await fpm?.stop();
    temp.remove();
  });

  it('serves a GET with params: status, headers and body', async () => {
    const response = await fcgiExchange(fpm.socket, {
      params: phpParams(release, '/index.php?x=1'),
    });
    expect(response.status).toBe(200);
    expect(response.protocolStatus).toBe(0);
    expect(response.headers).toContainEqual(['X-Release', 'r1']);
    const page = JSON.parse(response.body.toString());
    expect(page).toMatchObject({
      release: 'r1',
      dir: release,
      script: `${release}/index.php`,
      document_root: release,
    });
  });

  it('passes a 5 MiB POST body whole, split over many STDIN records', async () => {
    const body = randomBytes(5 * 1024 * 1024);
    const response = await fcgiExchange(fpm.socket, {
      params: phpParams(release, '/upload.php', {
        REQUEST_METHOD: 'POST',
        CONTENT_TYPE: 'application/octet-stream',
        CONTENT_LENGTH: String(body.length),
      }),
      stdin: body,
    });
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body.toString())).toEqual({
      release: 'r1',
      length: body.length,
      sha256: sha256(body),
    });
  });

  it('decodes a 3 MB STDOUT stream php-fpm splits over many records', async () => {
    const size = 3_000_000;
    const response = await fcgiExchange(fpm.socket, {
      params: phpParams(release, '/download.php?bytes=3000000'),
    });
    expect(response.status).toBe(200);
    expect(response.body.length).toBe(size);
    expect(sha256(response.body)).toBe(downloadPatternSha256(size));
  });

  it('keeps a connection alive across requests with FCGI_KEEP_CONN', async () => {
    const connection = await FcgiTestConnection.open(fpm.socket);
    try {
      const pids = new Set<number>();
      for (let i = 0; i < 5; i += 1) {
        const response = await connection.request({ params: phpParams(release, '/index.php') });
        expect(response.status).toBe(200);
        pids.add(JSON.parse(response.body.toString()).pid);
      }
      // One kept-alive connection is one php-fpm child for its whole life.
      expect(pids.size).toBe(1);
    } finally {
      connection.close();
    }
  });

  it('carries a fatal error as status 500 with the message on STDERR or in the body', async () => {
    const response = await fcgiExchange(fpm.socket, { params: phpParams(release, '/fatal.php') });
    expect(response.status).toBe(500);
    expect(`${response.stderr}${response.body.toString()}${fpm.output()}`).toContain(
      'undefined_function_of_a_broken_release',
    );
  });

  it('answers the ping path and the JSON status page', async () => {
    const ping = await fcgiExchange(fpm.socket, { params: phpParams('/', '/fpm-ping') });
    expect(ping.body.toString()).toBe('pong');
    const readStatus = async () => {
      const status = await fcgiExchange(fpm.socket, {
        params: phpParams('/', '/fpm-status', { QUERY_STRING: 'json' }),
      });
      return JSON.parse(status.body.toString());
    };
    const before = await readStatus();
    expect(before).toMatchObject({ pool: 'app', 'process manager': 'static' });
    await fcgiExchange(fpm.socket, { params: phpParams(release, '/index.php') });
    // php-fpm 8.2's counters are updated per child and drift ("total processes" grows past
    // pm.max_children), so only their direction is asserted.
    expect((await readStatus())['accepted conn']).toBeGreaterThan(before['accepted conn']);
  });

  it('reads params over 64 KiB framed between pairs, with 4-byte lengths and UTF-8, exactly', async () => {
    // php-fpm parses each PARAMS record on its own: this is what encodeParamsRecords is for.
    const long = ['a', 'b', 'c'].map((c) => c.repeat(30_000));
    const utf8 = utf8AsLatin1('café ünïcode');
    const response = await fcgiExchange(fpm.socket, {
      params: phpParams(release, '/echo.php?names=HTTP_X_A,HTTP_X_B,HTTP_X_C,HTTP_X_UTF8', {
        HTTP_X_A: long[0] as string,
        HTTP_X_B: long[1] as string,
        HTTP_X_C: long[2] as string,
        HTTP_X_UTF8: utf8,
      }),
    });
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body.toString('utf8'))).toEqual({
      HTTP_X_A: long[0],
      HTTP_X_B: long[1],
      HTTP_X_C: long[2],
      HTTP_X_UTF8: 'café ünïcode',
    });
  });
});

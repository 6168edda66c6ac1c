import { randomBytes } from 'node:crypto';
import { mkdirSync, realpathSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningDataPlane, startDataPlane } from '../support/data-plane.js';
import { downloadPatternSha256, sha256 } from '../support/download-pattern.js';
import { type FcgiResponse, fcgiExchange, phpParams } from '../support/fcgi-exchange.js';
import { fcgiLoad } from '../support/fcgi-load.js';
import { type RunningPhpFpm, startPhpFpm } from '../support/php-fpm.js';
import { repoRoot } from '../support/repo-root.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { makeTempDir } from '../support/temp-dir.js';

const phpFpm = requireSystemTool(SystemTool.phpFpm);
const release = realpathSync(join(repoRoot, 'fixtures/php/releases/r1'));

describe.skipIf(phpFpm === undefined)('data plane in front of two real php-fpm masters', () => {
  const temp = makeTempDir('plane');
  const symlink = join(temp.path, 'current');
  let fpmA: RunningPhpFpm;
  let fpmB: RunningPhpFpm;
  let plane: RunningDataPlane;

  beforeAll(async () => {
    symlinkSync(release, symlink);
    mkdirSync(join(temp.path, 'a'));
    mkdirSync(join(temp.path, 'b'));
    [fpmA, fpmB] = await Promise.all([
      startPhpFpm({ binary: phpFpm as string, dir: join(temp.path, 'a'), children: 4 }),
      startPhpFpm({ binary: phpFpm as string, dir: join(temp.path, 'b'), children: 4 }),
    ]);
    plane = await startDataPlane({
      dir: temp.path,
      symlink,
      replicas: [
        { socket: fpmA.socket, capacity: 4, release },
        { socket: fpmB.socket, capacity: 4, release },
      ],
    });
  });

  afterAll(async () => {
    plane?.stop();
    await Promise.all([fpmA?.stop(), fpmB?.stop()]);
    temp.remove();
  });

  it('serves every request of a concurrent load correctly, spread over both replicas', async () => {
    const results = await fcgiLoad(plane.socket, 1000, 16, () => phpParams(symlink, '/index.php'));
    const failures = results.filter((r) => r instanceof Error || r.status !== 200);
    expect(failures).toEqual([]);
    const pages = results.map((r) => JSON.parse((r as FcgiResponse).body.toString()));
    expect(pages.every((p) => p.release === 'r1' && p.dir === release)).toBe(true);
    const masters = new Set(plane.balancer.pools().map((p) => p.served));
    expect(plane.balancer.pools().every((p) => p.served > 100)).toBe(true);
    expect(masters.size).toBeGreaterThan(0);
  });

  it('pins the symlink path in SCRIPT_FILENAME and DOCUMENT_ROOT to the resolved release', async () => {
    const response = await fcgiExchange(plane.socket, {
      params: phpParams(symlink, '/echo.php?names=SCRIPT_FILENAME,DOCUMENT_ROOT'),
    });
    expect(JSON.parse(response.body.toString())).toEqual({
      SCRIPT_FILENAME: `${release}/echo.php`,
      DOCUMENT_ROOT: release,
    });
  });

  it('passes a 10 MiB upload whole (streamed, over the retry buffer)', async () => {
    const body = randomBytes(10 * 1024 * 1024);
    const response = await fcgiExchange(plane.socket, {
      params: phpParams(symlink, '/upload.php', {
        REQUEST_METHOD: 'POST',
        CONTENT_TYPE: 'application/octet-stream',
        CONTENT_LENGTH: String(body.length),
      }),
      stdin: body,
    });
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body.toString())).toMatchObject({
      length: body.length,
      sha256: sha256(body),
    });
  });

  it('streams a 50 MiB download with the right sha256', async () => {
    const size = 50 * 1024 * 1024;
    const response = await fcgiExchange(plane.socket, {
      params: phpParams(symlink, `/download.php?bytes=${size}`),
    });
    expect(response.status).toBe(200);
    expect(response.body.length).toBe(size);
    expect(sha256(response.body)).toBe(downloadPatternSha256(size));
  });

  it('leaves every count at zero when the load is over', () => {
    expect(plane.balancer.pools().map((p) => p.inFlight)).toEqual([0, 0]);
    expect(plane.balancer.queued).toBe(0);
  });
});

// checkHealth as the supervisor will run it: a real FastCGI request to a real php-fpm (its
// ping.path and PHP pages) and to the demo app.
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ListenAddress } from '../../src/config/address.js';
import { requestParamsFor } from '../../src/fastcgi-client/get-request-params.js';
import { sendFastCgiRequest } from '../../src/fastcgi-client/one-shot-request.js';
import { checkHealth } from '../../src/supervisor/health-check.js';
import { killAllDemoApps, startDemoApp, stopDemoApp } from '../support/demo-app.js';
import { type RunningPhpFpm, startPhpFpm } from '../support/php-fpm.js';
import { repoRoot } from '../support/repo-root.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { makeTempDir } from '../support/temp-dir.js';

const phpFpm = requireSystemTool(SystemTool.phpFpm);
const phpRelease = realpathSync(join(repoRoot, 'fixtures/php/releases/r1'));
const demoRelease = realpathSync(join(repoRoot, 'fixtures/demo/releases/v1'));

describe.skipIf(phpFpm === undefined)('checkHealth against a real php-fpm', () => {
  const temp = makeTempDir('health-fpm');
  let fpm: RunningPhpFpm | undefined;
  let address: ListenAddress;

  beforeAll(async () => {
    // startPhpFpm sets ping.path = /fpm-ping and resolves once it answers.
    fpm = await startPhpFpm({ binary: phpFpm as string, dir: temp.path, children: 2 });
    address = { kind: 'unix', path: fpm.socket };
  });

  afterAll(async () => {
    try {
      await fpm?.stop();
    } finally {
      await fpm?.killAll();
      temp.remove();
    }
  });

  const check = (path: string, expectText: string, timeoutMs = 2_000) =>
    checkHealth(address, { path, expect: expectText, timeoutMs, release: phpRelease });

  it('passes on the ping path, with or without a query string', async () => {
    const result = await check('/fpm-ping', 'pong');
    expect(result).toEqual({ ok: true, ms: expect.any(Number) });
    expect(result.ms).toBeLessThan(2_000);
    expect(await check('/fpm-ping?from=switchyard', 'pong')).toMatchObject({ ok: true });
  });

  it('php-fpm matches ping.path on SCRIPT_NAME, not REQUEST_URI', async () => {
    const send = (path: string, extra: Record<string, string>) =>
      sendFastCgiRequest(
        address,
        { params: requestParamsFor(phpRelease, path, extra) },
        { timeoutMs: 2_000 },
      );
    const byScriptName = await send('/fpm-ping', { REQUEST_URI: '/elsewhere' });
    expect(byScriptName.body.toString()).toBe('pong');
    const byRequestUri = await send('/elsewhere', { REQUEST_URI: '/fpm-ping' });
    expect(byRequestUri.status).toBe(404);
  });

  it('passes on a PHP page whose body has the expected text', async () => {
    expect(await check('/hello.php', 'Hello, world')).toMatchObject({ ok: true });
    expect(await check('/index.php?x=1', '"release":"r1"')).toMatchObject({ ok: true });
    // Empty expect: any 2xx passes.
    expect(await check('/hello.php', '')).toMatchObject({ ok: true });
  });

  it('fails on a page without the expected text, saying what came instead', async () => {
    expect(await check('/hello.php', 'pong')).toEqual({
      ok: false,
      reason: 'body does not contain "pong" (got: "Hello, world")',
      ms: expect.any(Number),
    });
  });

  it('fails with the status on a fatal error and on a missing script', async () => {
    const fatal = await check('/fatal.php', '');
    expect(fatal.ok).toBe(false);
    expect(fatal).toMatchObject({
      reason: expect.stringMatching(/^status 500 \(.*undefined_function_of_a_broken_release/),
    });
    const missing = await check('/no-such-page.php', '');
    expect(missing).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^status 404 \(body starts: "File not found\."/),
    });
  });

  it('fails, never throws, when nothing listens', async () => {
    const result = await checkHealth(
      { kind: 'unix', path: join(temp.path, 'gone.sock') },
      { path: '/fpm-ping', expect: 'pong', timeoutMs: 2_000, release: phpRelease },
    );
    expect(result).toEqual({
      ok: false,
      reason: `no socket at unix:${join(temp.path, 'gone.sock')} (ENOENT)`,
      ms: expect.any(Number),
    });
    expect(
      await checkHealth(address, {
        path: 'fpm-ping',
        expect: 'pong',
        timeoutMs: 2_000,
        release: phpRelease,
      }),
    ).toMatchObject({ ok: false, reason: expect.stringMatching(/must start with \//) });
  });
});

describe('checkHealth against the demo app', () => {
  const temp = makeTempDir('health-demo');
  let address: ListenAddress;

  beforeAll(async () => {
    const socketPath = join(temp.path, 'app.sock');
    await startDemoApp({ cwd: demoRelease, socketPath });
    address = { kind: 'unix', path: socketPath };
  });

  afterAll(async () => {
    try {
      await killAllDemoApps();
    } finally {
      temp.remove();
    }
  });

  const check = (path: string, expectText: string, timeoutMs = 2_000) =>
    checkHealth(address, { path, expect: expectText, timeoutMs, release: demoRelease });

  it('passes on /fpm-ping and /ping', async () => {
    expect(await check('/fpm-ping', 'pong')).toMatchObject({ ok: true });
    expect(await check('/ping', 'pong')).toMatchObject({ ok: true });
    expect(await check('/', 'release v1')).toMatchObject({ ok: true });
  });

  it('fails on a 500 with the start of the body', async () => {
    expect(await check('/fail', '')).toMatchObject({
      ok: false,
      reason: 'status 500 (body starts: "demo failure")',
    });
  });

  it('fails within the timeout on a request that takes longer', async () => {
    const result = await check('/sleep?ms=5000', 'pong', 300);
    expect(result).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^no answer from unix:.* within 300 ms$/),
    });
    expect(result.ms).toBeGreaterThanOrEqual(295);
    expect(result.ms).toBeLessThan(300 + 700);
    // The app saw the connection go and is free for the next check at once.
    expect(await check('/ping', 'pong')).toMatchObject({ ok: true });
  });

  it('fails once the app has stopped', async () => {
    const socketPath = join(temp.path, 'second.sock');
    const app = await startDemoApp({ cwd: demoRelease, socketPath });
    const second: ListenAddress = { kind: 'unix', path: socketPath };
    const options = { path: '/ping', expect: 'pong', timeoutMs: 2_000, release: demoRelease };
    expect(await checkHealth(second, options)).toMatchObject({ ok: true });
    await stopDemoApp(app);
    expect(await checkHealth(second, options)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^(no socket at|connection refused on) unix:/),
    });
  });
});

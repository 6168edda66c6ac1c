import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, realpathSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordType, Role } from '../../src/protocol/constants.js';
import { encodeNameValuePairs } from '../../src/protocol/name-value-pairs.js';
import { encodeBeginRequestBody } from '../../src/protocol/record-bodies.js';
import { encodeRecord } from '../../src/protocol/record-encoder.js';
import {
  type DemoAppProcess,
  demoReleasesDir,
  startDemoApp,
  stopDemoApp,
} from '../support/demo-app.js';
import { fcgiExchange, phpParams } from '../support/fcgi-exchange.js';
import { RawFcgiClient } from '../support/raw-fcgi-client.js';
import {
  freePort,
  type SwitchyardProcess,
  startSwitchyard,
} from '../support/switchyard-process.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

const run = promisify(execFile);
const release = realpathSync(join(demoReleasesDir, 'v1'));

describe('switchyard daemon in front of two demo app replicas', () => {
  const temp = makeTempDir('demo');
  const apps: DemoAppProcess[] = [];
  let switchyard: SwitchyardProcess;
  let httpUrl: string;

  beforeAll(async () => {
    symlinkSync(release, join(temp.path, 'current'));
    for (const name of ['a', 'b']) {
      mkdirSync(join(temp.path, name));
      apps.push(
        await startDemoApp({ cwd: release, socketPath: join(temp.path, name, 'app.sock') }),
      );
    }
    switchyard = await startSwitchyard(
      temp.path,
      [
        '[listen]',
        'fastcgi = "unix:./front.sock"',
        `http = "127.0.0.1:${await freePort()}"`,
        '[release]',
        'symlink = "./current"',
        '[replicas]',
        'kind = "external"',
        'addresses = ["unix:./a/app.sock", "unix:./b/app.sock"]',
        'capacity = 4',
      ].join('\n'),
    );
    const serving = JSON.parse(
      switchyard
        .stdout()
        .split('\n')
        .find((line) => line.includes('switchyard is serving')) ?? '{}',
    );
    httpUrl = `http://${serving.http}`;
  });

  afterAll(async () => {
    switchyard?.child.kill('SIGTERM');
    await switchyard?.exited;
    for (const app of apps) await stopDemoApp(app);
    temp.remove();
  });

  it('logs JSON lines with the addresses it serves', () => {
    expect(httpUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('answers curl on the HTTP front from both replicas', async () => {
    const pids = new Set<number>();
    for (let i = 0; i < 20; i += 1) {
      const { stdout } = await run('curl', ['-sS', '--fail', `${httpUrl}/release.json`]);
      const page = JSON.parse(stdout);
      expect(page.release).toBe('v1');
      pids.add(page.pid);
    }
    expect(pids).toEqual(new Set(apps.map((a) => a.pid)));
  });

  it('answers FastCGI on its socket', async () => {
    const response = await fcgiExchange(join(temp.path, 'front.sock'), {
      params: phpParams(release, '/fpm-ping'),
    });
    expect(response.body.toString()).toBe('pong');
  });

  it('survives malformed FastCGI on its socket and keeps serving', async () => {
    const socket = join(temp.path, 'front.sock');
    for (const garbage of [
      Buffer.from([9, 9, 9, 9, 9, 9, 9, 9]),
      // Random bytes after a bad version byte, so the decoder cannot wait on a long record.
      Buffer.concat([Buffer.from([7]), randomBytes(4095)]),
      Buffer.alloc(64),
    ]) {
      const client = await RawFcgiClient.open(socket);
      client.send(garbage);
      await client.waitForClose();
    }
    const response = await fcgiExchange(socket, { params: phpParams(release, '/fpm-ping') });
    expect(response.body.toString()).toBe('pong');
    expect(switchyard.child.exitCode).toBeNull();
    expect(switchyard.stdout()).toContain('malformed FastCGI from a client');
  });
});

describe('switchyard daemon shutdown', () => {
  it('exits 0 promptly when the last request leaves before its params were complete', async () => {
    const temp = makeTempDir('shut');
    try {
      mkdirSync(join(temp.path, 'a'));
      mkdirSync(join(temp.path, 'b'));
      symlinkSync(release, join(temp.path, 'current'));
      const apps = [
        await startDemoApp({ cwd: release, socketPath: join(temp.path, 'a', 'app.sock') }),
        await startDemoApp({ cwd: release, socketPath: join(temp.path, 'b', 'app.sock') }),
      ];
      const daemon = await startSwitchyard(
        temp.path,
        [
          '[listen]',
          'fastcgi = "unix:./front.sock"',
          '[release]',
          'symlink = "./current"',
          '[replicas]',
          'kind = "external"',
          'addresses = ["unix:./a/app.sock", "unix:./b/app.sock"]',
          '[limits]',
          'request_timeout = "60s"',
        ].join('\n'),
      );
      const client = await RawFcgiClient.open(join(temp.path, 'front.sock'));
      // A request begun but never completed: the daemon waits for it on SIGTERM...
      client.send(
        encodeRecord(RecordType.BeginRequest, 1, encodeBeginRequestBody(Role.Responder, true)),
      );
      // Records are read in order: once GET_VALUES is answered, BEGIN_REQUEST has been read.
      client.send(
        encodeRecord(RecordType.GetValues, 0, encodeNameValuePairs([['FCGI_MPXS_CONNS', '']])),
      );
      await client.waitForRecord((r) => r.type === RecordType.GetValuesResult, 'GET_VALUES_RESULT');
      daemon.child.kill('SIGTERM');
      await waitFor(() => daemon.stdout().includes('waiting for in-flight requests'), {
        timeoutMs: 5_000,
        what: 'the daemon to wait for the open request',
      });
      // ...until the client aborts it: then it stops at once, not after the request timeout.
      client.send(encodeRecord(RecordType.AbortRequest, 1));
      const started = Date.now();
      expect(await daemon.exited).toBe(0);
      expect(Date.now() - started).toBeLessThan(10_000);
      client.destroy();
      for (const app of apps) await stopDemoApp(app);
    } finally {
      temp.remove();
    }
  });
});

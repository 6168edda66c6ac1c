import { type ChildProcess, spawn } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer/balancer.js';
import { FastCgiFrontend } from '../../src/frontend/fastcgi-frontend.js';
import { silentLogger } from '../../src/log.js';
import { makeReleasePinning } from '../../src/request/release-pinning.js';
import {
  type DemoAppProcess,
  demoReleasesDir,
  startDemoApp,
  stopDemoApp,
} from '../support/demo-app.js';
import { fcgiExchange, phpParams } from '../support/fcgi-exchange.js';
import { makeTempDir } from '../support/temp-dir.js';

const release = realpathSync(join(demoReleasesDir, 'v1'));

/**
 * A TCP port whose accept queue is full: a listener with a backlog of 0 that never accepts,
 * with one connection already parked in it. Further SYNs are dropped, so a connect hangs
 * the way it does to a replica host that vanished from the network.
 */
async function blackHole(): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn('python3', [
    '-c',
    [
      'import socket, sys, time',
      's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)',
      'c = socket.create_connection(s.getsockname())',
      'print(s.getsockname()[1], flush=True)',
      'time.sleep(120)',
    ].join('\n'),
  ]);
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    child.once('error', reject);
  });
  return { port, child };
}

describe('a replica that does not accept connections', () => {
  const temp = makeTempDir('hole');
  let hole: { port: number; child: ChildProcess };
  let app: DemoAppProcess;
  let balancer: Balancer;
  let frontend: FastCgiFrontend;

  beforeAll(async () => {
    hole = await blackHole();
    app = await startDemoApp({ cwd: release, socketPath: join(temp.path, 'app.sock') });
    balancer = new Balancer({
      queue: 16,
      queueTimeoutMs: 5_000,
      idleTimeoutMs: 30_000,
      connectTimeoutMs: 300,
      probeIntervalMs: 1_000,
      logger: silentLogger(),
    });
    const pinning = makeReleasePinning(release, release);
    balancer.add({
      id: 'hole',
      address: { kind: 'tcp', host: '127.0.0.1', port: hole.port },
      capacity: 2,
      release,
      pinning,
    });
    balancer.add({
      id: 'app',
      address: { kind: 'unix', path: join(temp.path, 'app.sock') },
      capacity: 2,
      release,
      pinning,
    });
    frontend = await FastCgiFrontend.start(
      { kind: 'unix', path: join(temp.path, 'front.sock') },
      0o600,
      {
        dispatcher: balancer,
        logger: silentLogger(),
        limits: {
          maxParamsBytes: 1 << 20,
          retryBodyBytes: 1 << 20,
          requestTimeoutMs: 10_000,
          maxAttempts: 3,
          maxConns: 10,
          maxReqs: 10,
          requestsPerConnection: 16,
          connectionBufferBytes: 3 << 20,
          paramsTimeoutMs: 10_000,
          clientIdleTimeoutMs: 120_000,
        },
      },
    );
  });

  afterAll(async () => {
    frontend?.stopAccepting();
    frontend?.destroyAll();
    balancer?.close();
    hole?.child.kill('SIGKILL');
    if (app) await stopDemoApp(app);
    temp.remove();
  });

  it('leaves the rotation after the connect timeout, and its requests are served elsewhere', async () => {
    const responses = await Promise.all(
      Array.from({ length: 4 }, () =>
        fcgiExchange(join(temp.path, 'front.sock'), { params: phpParams(release, '/ping') }),
      ),
    );
    expect(responses.map((r) => r.body.toString())).toEqual(['pong', 'pong', 'pong', 'pong']);
    const [dead, alive] = balancer.pools();
    expect(dead?.routing).toBe('unreachable');
    expect(alive?.served).toBe(4);
  });
});

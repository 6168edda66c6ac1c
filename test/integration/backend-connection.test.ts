import type { Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplicaPool } from '../../src/balancer/replica-pool.js';
import { type Dispatcher, Exchange, type ExchangeOutcome } from '../../src/request/exchange.js';
import { makeReleasePinning } from '../../src/request/release-pinning.js';
import { RequestBody } from '../../src/request/request-body.js';
import { PairParams } from '../../src/request/request-params.js';
import type { ResponseSink } from '../../src/request/response-sink.js';
import { startScriptedApp, wholeAnswer } from '../support/scripted-fcgi-app.js';
import { makeTempDir } from '../support/temp-dir.js';

/** A client that is always slow: every write reports back-pressure, drained a turn later. */
function slowClientSink(received: { bytes: number }): ResponseSink {
  return {
    stdout: (content) => {
      received.bytes += content.length;
      return false;
    },
    stderr: () => true,
    end: () => {},
    abort: () => {},
    onDrain: (listener) => setImmediate(listener),
  };
}

function runOn(pool: ReplicaPool, received: { bytes: number }): Promise<ExchangeOutcome> {
  const straightToThePool: Dispatcher = {
    dispatch: (exchange) => pool.run(exchange, false),
    retry: () => {},
    forget: () => {},
    finished: () => {},
  };
  return new Promise((resolve) => {
    const exchange = new Exchange(
      new PairParams([['REQUEST_URI', '/burst']]),
      new RequestBody(1024),
      slowClientSink(received),
      { pause: () => {}, resume: () => {} },
      straightToThePool,
      { requestTimeoutMs: 2_000, maxAttempts: 1, onDone: (_e, outcome) => resolve(outcome) },
    );
    exchange.body.end();
    exchange.admit();
  });
}

describe('backend connection reuse', () => {
  const temp = makeTempDir('conn');
  let app: Server;

  beforeAll(async () => {
    app = await startScriptedApp(join(temp.path, 'burst.sock'), (id) => wholeAnswer(id, 200_000));
  });

  afterAll(() => {
    app?.close();
    temp.remove();
  });

  it('reads again when an answer ends while the client is slow, so the next request runs', async () => {
    const release = '/srv/app/releases/1';
    const pool = new ReplicaPool(
      {
        id: 'burst',
        address: { kind: 'unix', path: join(temp.path, 'burst.sock') },
        capacity: 1,
        release,
        pinning: makeReleasePinning('/srv/app/current', release),
      },
      { slotFreed: () => {}, unreachable: () => {} },
      { idleMs: 30_000, connectMs: 2_000, abandonAfterMs: 30_000 },
    );
    for (let i = 0; i < 5; i += 1) {
      const received = { bytes: 0 };
      const outcome = await runOn(pool, received);
      expect(outcome, `request ${i}`).toEqual({ kind: 'answered', appStatus: 0 });
      expect(received.bytes).toBeGreaterThan(200_000);
      // One kept-alive connection carried them all.
      expect(pool.idleConnections).toBe(1);
    }
    pool.closeIdle();
  });
});

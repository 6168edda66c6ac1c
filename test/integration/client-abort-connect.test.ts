import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { fcgiExchange, phpParams } from '../support/fcgi-exchange.js';
import { type LimitsDaemon, startLimitsDaemon } from '../support/limits-daemon.js';
import { finishRequest, unfinishedRequest } from '../support/raw-fcgi-records.js';

// A client that hangs up while switchyard is still opening the connection to a replica (a
// browser giving up, nginx's client gone) used to count as that replica refusing the
// connection: it left the rotation, and with both out every request got 503 until a probe.

let daemon: LimitsDaemon | null = null;

afterEach(async () => {
  await daemon?.cleanup();
  daemon = null;
});

/** Sends one whole request and closes at once, as a client that gives up does. */
function hangUpAfterSending(socketPath: string, request: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(socketPath, () => {
      socket.write(request);
      socket.destroy();
      resolve();
    });
    socket.on('error', () => resolve());
  });
}

describe('clients that hang up right after their request', () => {
  it('do not take replicas out of rotation: a good client beside them is always served', {
    timeout: 60_000,
  }, async () => {
    daemon = await startLimitsDaemon({ label: 'abort-connect', limits: [] });
    const running = daemon;
    const request = Buffer.concat([
      unfinishedRequest(1, phpParams(running.release, '/release.json')),
      finishRequest(1),
    ]);
    let stop = false;
    const hangUps = Array.from({ length: 4 }, async () => {
      while (!stop) {
        await hangUpAfterSending(running.fastcgiSocket, request);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    });
    const statuses: number[] = [];
    try {
      for (let i = 0; i < 300; i += 1) {
        const response = await fcgiExchange(running.fastcgiSocket, {
          params: phpParams(running.release, '/release.json'),
        });
        statuses.push(response.status);
      }
    } finally {
      stop = true;
      await Promise.all(hangUps);
    }
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    expect(running.switchyard.stdout()).not.toContain('replica unreachable');
  });
});

describe('clients that send malformed FastCGI', () => {
  it('cost a log line per interval, not one each', { timeout: 30_000 }, async () => {
    daemon = await startLimitsDaemon({ label: 'malformed-log', limits: [] });
    const running = daemon;
    const garbage = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    for (let i = 0; i < 200; i += 1) await hangUpAfterSending(running.fastcgiSocket, garbage);
    const response = await fcgiExchange(running.fastcgiSocket, {
      params: phpParams(running.release, '/release.json'),
    });
    expect(response.status).toBe(200);
    const lines = running.logged('ERR_FCGI_MALFORMED');
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.length).toBeLessThanOrEqual(2);
    expect(lines[0]).toMatchObject({ count: 1, reason: 'ERR_FCGI_BAD_VERSION' });
  });
});

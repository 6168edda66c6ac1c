import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type FcgiResponse, fcgiExchange, phpParams } from '../support/fcgi-exchange.js';
import { fcgiLoad } from '../support/fcgi-load.js';
import { startPhpFpm } from '../support/php-fpm.js';
import {
  type PhpFpmDataPlane,
  type PhpFpmDataPlaneOptions,
  startPhpFpmDataPlane,
} from '../support/php-fpm-data-plane.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { waitFor } from '../support/wait-for.js';

const phpFpm = requireSystemTool(SystemTool.phpFpm);

/** What each test started, so afterEach can stop it whatever the test's outcome. */
const running: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const stop of running.splice(0).reverse()) await stop();
});

function setUp(options: PhpFpmDataPlaneOptions): Promise<PhpFpmDataPlane> {
  return startPhpFpmDataPlane(phpFpm as string, options, running);
}

function failures(results: Array<FcgiResponse | Error>): string[] {
  return results.flatMap((r, i) =>
    r instanceof Error
      ? [`#${i}: ${r.message}`]
      : r.status === 200
        ? []
        : [`#${i}: status ${r.status}`],
  );
}

function header(response: FcgiResponse, name: string): string | undefined {
  return response.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
}

describe.skipIf(phpFpm === undefined)('data plane resilience with real php-fpm', () => {
  it('loses no request when php-fpm resets kept-alive connections at pm.max_requests = 1', async () => {
    const { plane, symlink } = await setUp({ children: 4, maxRequests: 1 });
    const results = await fcgiLoad(plane.socket, 600, 12, () => phpParams(symlink, '/index.php'));
    expect(failures(results)).toEqual([]);
    expect(plane.outcomes.filter((o) => o.kind !== 'answered')).toEqual([]);
  });

  it('survives a master and its children killed under load, and takes it back when restarted', async () => {
    const { plane, masters, symlink, dir } = await setUp({ children: 4 });
    const [victim] = plane.balancer.pools();
    let killed = false;
    const results = await fcgiLoad(plane.socket, 1200, 12, (i) => {
      if (i === 300 && !killed) {
        killed = true;
        void masters[0]?.killAll();
      }
      return phpParams(symlink, '/sleep.php?ms=2');
    });
    // Requests the dead replica had not begun answering were retried on the other one.
    const midway = plane.outcomes.filter((o) => o.kind === 'failed-midway').length;
    expect(failures(results).length).toBe(midway);
    expect(plane.outcomes.filter((o) => o.kind === 'generated')).toEqual([]);
    expect(victim?.routing).toBe('unreachable');

    // A php-fpm master started again on the same socket is used again, without a restart.
    const restarted = await startPhpFpm({
      binary: phpFpm as string,
      dir: join(dir, 'a'),
      children: 4,
    });
    running.push(() => restarted.stop());
    await waitFor(() => victim?.routing === 'active', {
      timeoutMs: 5_000,
      what: 'the replica back in rotation',
    });
    const servedBefore = victim?.served ?? 0;
    const after = await fcgiLoad(plane.socket, 200, 8, () => phpParams(symlink, '/index.php'));
    expect(failures(after)).toEqual([]);
    expect(victim?.served ?? 0).toBeGreaterThan(servedBefore);
  });

  it('queues requests beyond capacity and serves them all', async () => {
    const { plane, symlink } = await setUp({ children: 1, queueTimeoutMs: 10_000 });
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        fcgiExchange(plane.socket, { params: phpParams(symlink, '/sleep.php?ms=300') }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    // Two slots for six requests of 300 ms: three rounds, so they really waited their turn.
    expect(Date.now() - started).toBeGreaterThanOrEqual(850);
  });

  it('answers 503 with Retry-After at once when the queue is full', async () => {
    const { plane, symlink } = await setUp({ children: 1, queue: 2, queueTimeoutMs: 10_000 });
    const slow = Array.from({ length: 4 }, () =>
      fcgiExchange(plane.socket, { params: phpParams(symlink, '/sleep.php?ms=1500') }),
    );
    await waitFor(() => plane.balancer.queued === 2, {
      timeoutMs: 5_000,
      what: 'two requests queued',
    });
    const extra = await Promise.all(
      Array.from({ length: 3 }, () =>
        fcgiExchange(plane.socket, { params: phpParams(symlink, '/index.php') }),
      ),
    );
    // Promptly: the four slow requests are all still in flight or queued.
    expect(plane.balancer.pools().reduce((sum, p) => sum + p.inFlight, 0)).toBe(2);
    for (const response of extra) {
      expect(response.status).toBe(503);
      expect(header(response, 'Retry-After')).toBe('1');
      expect(response.body.toString()).toContain('busy');
    }
    expect((await Promise.all(slow)).map((r) => r.status)).toEqual([200, 200, 200, 200]);
  });

  it('answers 503 with Retry-After when a request waits past the queue timeout', async () => {
    const { plane, symlink } = await setUp({ children: 1, queueTimeoutMs: 200 });
    const slow = Array.from({ length: 2 }, () =>
      fcgiExchange(plane.socket, { params: phpParams(symlink, '/sleep.php?ms=2000') }),
    );
    await waitFor(() => plane.balancer.pools().every((p) => p.inFlight === 1), {
      timeoutMs: 5_000,
      what: 'both replicas busy',
    });
    const waited = await fcgiExchange(plane.socket, { params: phpParams(symlink, '/index.php') });
    expect(waited.status).toBe(503);
    expect(header(waited, 'Retry-After')).toBe('1');
    expect(plane.balancer.pools().every((p) => p.inFlight === 1)).toBe(true);
    await Promise.all(slow);
  });

  it('answers 504 when the application does not finish within the request timeout', async () => {
    const { plane, symlink } = await setUp({ children: 2, requestTimeoutMs: 300 });
    const response = await fcgiExchange(plane.socket, {
      params: phpParams(symlink, '/sleep.php?ms=3000'),
    });
    expect(response.status).toBe(504);
    await waitFor(() => plane.balancer.pools().every((p) => p.inFlight === 0), {
      timeoutMs: 2_000,
      what: 'the timed-out request to release its slot',
    });
  });
});

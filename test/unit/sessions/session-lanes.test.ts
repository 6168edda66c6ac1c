import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BalancerError } from '../../../src/request/balancer-error.js';
import type {
  BackendAttempt,
  Dispatcher,
  Exchange,
  ExchangeOutcome,
} from '../../../src/request/exchange.js';
import { SessionHasher } from '../../../src/sessions/session-hasher.js';
import { SessionLanes, type SessionLanesOptions } from '../../../src/sessions/session-lanes.js';
import { admitExchange } from '../../support/admitted-exchange.js';

/** Stands in for the balancer: takes every request, and the test says when each is answered. */
class Workers implements Dispatcher {
  readonly running: Exchange[] = [];
  readonly forgotten: Exchange[] = [];
  readonly finishedOnes: Exchange[] = [];
  /** When set, dispatch answers at once with this error (the balancer's 503). */
  refuse = false;

  dispatch(exchange: Exchange): void {
    if (this.refuse) {
      exchange.reject(new BalancerError('ERR_NO_READY_REPLICA', 'no replica is ready to serve'));
      return;
    }
    const attempt: BackendAttempt = { pause() {}, resume() {}, abandon() {} };
    exchange.started(attempt);
    this.running.push(exchange);
  }

  retry(exchange: Exchange): void {
    this.running.push(exchange);
  }

  forget(exchange: Exchange): void {
    this.forgotten.push(exchange);
  }

  finished(exchange: Exchange): void {
    this.finishedOnes.push(exchange);
    const at = this.running.indexOf(exchange);
    if (at >= 0) this.running.splice(at, 1);
  }

  /** The application answers `exchange`. */
  answer(exchange: Exchange): void {
    exchange.onStdout(Buffer.from('Status: 200\r\n\r\nok'));
    exchange.onEnd(0);
  }
}

interface Sent {
  readonly exchange: Exchange;
  readonly outcome: Promise<ExchangeOutcome>;
  /** What the client received, STDOUT concatenated. */
  readonly output: () => string;
}

const silent = pino({ level: 'silent' });

function lanesWith(workers: Workers, options: Partial<SessionLanesOptions> = {}): SessionLanes {
  return new SessionLanes(workers, {
    cookies: ['PHPSESSID'],
    params: ['_s'],
    perSession: 1,
    laneQueue: 64,
    laneTimeoutMs: 5_000,
    maxWaiting: 4096,
    warnLane: 8,
    logger: silent,
    hasher: new SessionHasher(Buffer.alloc(32, 7)),
    ...options,
  });
}

function send(lanes: Dispatcher, cookie?: string, query = ''): Sent {
  const pairs: Array<[string, string]> = [
    ['REQUEST_URI', `/page?${query}`],
    ['QUERY_STRING', query],
  ];
  if (cookie !== undefined) pairs.push(['HTTP_COOKIE', cookie]);
  const { exchange, outcome, output } = admitExchange(lanes, pairs);
  return { exchange, outcome, output: () => output() };
}

describe('SessionLanes', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('passes requests without a session straight through, untagged', () => {
    const workers = new Workers();
    const lanes = lanesWith(workers);
    const requests = [send(lanes), send(lanes, 'theme=dark'), send(lanes, undefined, 'a=1')];
    expect(workers.running).toHaveLength(3);
    for (const { exchange } of requests) expect(exchange.session).toBeNull();
    expect(lanes.snapshot()).toEqual({ lanes: 0, waiting: 0, longest: null });
  });

  it('lets one request of a session into the workers at a time, the others in arrival order', async () => {
    const workers = new Workers();
    const lanes = lanesWith(workers);
    const first = send(lanes, 'PHPSESSID=alice');
    const second = send(lanes, 'PHPSESSID=alice');
    const third = send(lanes, 'x=1; PHPSESSID=alice');
    const bob = send(lanes, 'PHPSESSID=bob');
    const anonymous = send(lanes);
    expect(workers.running).toEqual([first.exchange, bob.exchange, anonymous.exchange]);
    expect(lanes.snapshot()).toMatchObject({ lanes: 2, waiting: 2 });
    expect(second.exchange.state).toBe('queued');

    workers.answer(first.exchange);
    expect(workers.running).toEqual([bob.exchange, anonymous.exchange, second.exchange]);
    workers.answer(second.exchange);
    expect(workers.running).toContain(third.exchange);
    workers.answer(third.exchange);
    workers.answer(bob.exchange);
    workers.answer(anonymous.exchange);
    for (const sent of [first, second, third, bob, anonymous]) {
      expect(await sent.outcome).toEqual({ kind: 'answered', appStatus: 0 });
    }
    expect(lanes.snapshot()).toEqual({ lanes: 0, waiting: 0, longest: null });
  });

  it('tags every session request with the same hash, which is not the id', () => {
    const workers = new Workers();
    const lanes = lanesWith(workers, { perSession: 0 });
    const a = send(lanes, 'PHPSESSID=secret-id');
    const b = send(lanes, undefined, '_s=secret-id');
    const c = send(lanes, 'PHPSESSID=other-id');
    expect(a.exchange.session?.hash).toMatch(/^[0-9a-f]{12}$/);
    expect(b.exchange.session).toEqual(a.exchange.session);
    expect(c.exchange.session?.hash).not.toBe(a.exchange.session?.hash);
    // per_session = 0: no lanes, every request goes on at once.
    expect(workers.running).toHaveLength(3);
    expect(lanes.snapshot().lanes).toBe(0);
  });

  it('allows per_session requests of a session at once', () => {
    const workers = new Workers();
    const lanes = lanesWith(workers, { perSession: 2 });
    for (let i = 0; i < 5; i += 1) send(lanes, 'PHPSESSID=s');
    expect(workers.running).toHaveLength(2);
    expect(lanes.snapshot()).toMatchObject({ waiting: 3, longest: { waiting: 3 } });
  });

  it('answers 429 with Retry-After at once when the lane is full, and nothing else changes', async () => {
    const workers = new Workers();
    const lanes = lanesWith(workers, { laneQueue: 2 });
    const holder = send(lanes, 'PHPSESSID=s');
    const waiting = [send(lanes, 'PHPSESSID=s'), send(lanes, 'PHPSESSID=s')];
    const extra = send(lanes, 'PHPSESSID=s');
    const outcome = await extra.outcome;
    expect(outcome).toMatchObject({ kind: 'generated', error: { code: 'ERR_LANE_FULL' } });
    expect(extra.output()).toMatch(/^Status: 429 /);
    expect(extra.output()).toMatch(/\r\nRetry-After: 1\r\n/);
    expect(extra.output()).not.toContain('PHPSESSID');
    expect(lanes.snapshot()).toMatchObject({ lanes: 1, waiting: 2 });
    workers.answer(holder.exchange);
    expect(workers.running).toEqual([waiting[0]?.exchange]);
  });

  it('answers 503 when a request waited lane_timeout, and the lane goes on', async () => {
    const workers = new Workers();
    const lanes = lanesWith(workers, { laneTimeoutMs: 1_000 });
    const holder = send(lanes, 'PHPSESSID=s');
    const waiter = send(lanes, 'PHPSESSID=s');
    vi.advanceTimersByTime(999);
    expect(waiter.exchange.state).toBe('queued');
    vi.advanceTimersByTime(1);
    expect(await waiter.outcome).toMatchObject({
      kind: 'generated',
      error: { code: 'ERR_LANE_TIMEOUT' },
    });
    expect(waiter.output()).toMatch(/^Status: 503 [\s\S]*\r\nRetry-After: 1\r\n/);
    expect(lanes.snapshot()).toEqual({ lanes: 1, waiting: 0, longest: null });
    workers.answer(holder.exchange);
    expect(lanes.snapshot().lanes).toBe(0);
    const next = send(lanes, 'PHPSESSID=s');
    expect(workers.running).toEqual([next.exchange]);
  });

  it('answers 503 once max_waiting requests wait in lanes, and drops the lane it made', async () => {
    const workers = new Workers();
    const lanes = lanesWith(workers, { maxWaiting: 2 });
    send(lanes, 'PHPSESSID=a');
    send(lanes, 'PHPSESSID=a');
    send(lanes, 'PHPSESSID=a');
    const c1 = send(lanes, 'PHPSESSID=c');
    const c2 = send(lanes, 'PHPSESSID=c');
    expect(workers.running).toContain(c1.exchange);
    expect(await c2.outcome).toMatchObject({ error: { code: 'ERR_LANES_FULL' } });
    expect(lanes.snapshot()).toMatchObject({ lanes: 2, waiting: 2 });
  });

  it('forgets a waiting request whose client goes away, and lets the next one through', async () => {
    const workers = new Workers();
    const lanes = lanesWith(workers);
    const holder = send(lanes, 'PHPSESSID=s');
    const gone = send(lanes, 'PHPSESSID=s');
    const next = send(lanes, 'PHPSESSID=s');
    gone.exchange.abort('the client closed its connection');
    expect(await gone.outcome).toMatchObject({ kind: 'aborted' });
    expect(workers.forgotten).toEqual([]);
    expect(lanes.snapshot().waiting).toBe(1);
    holder.exchange.abort('the client closed its connection');
    expect(workers.running).toEqual([next.exchange]);
  });

  it('frees the session when the balancer refuses its request at once', async () => {
    const workers = new Workers();
    const lanes = lanesWith(workers);
    workers.refuse = true;
    const refused = send(lanes, 'PHPSESSID=s');
    expect(await refused.outcome).toMatchObject({ error: { code: 'ERR_NO_READY_REPLICA' } });
    workers.refuse = false;
    const next = send(lanes, 'PHPSESSID=s');
    expect(workers.running).toEqual([next.exchange]);
  });

  it('answers a long lane that the balancer refuses at once in a loop, not a deep recursion', async () => {
    const workers = new Workers();
    // Longer than the config allows (1024): the lanes themselves must not depend on that.
    const lanes = lanesWith(workers, { laneQueue: 20_000, maxWaiting: 1_000_000 });
    const holders = ['a', 'b'].map((name) => send(lanes, `PHPSESSID=${name}`));
    const waiters = ['a', 'b'].flatMap((name) =>
      Array.from({ length: 10_000 }, () => send(lanes, `PHPSESSID=${name}`)),
    );
    expect(lanes.snapshot().waiting).toBe(20_000);
    workers.refuse = true;
    for (const holder of holders) workers.answer(holder.exchange);
    for (const waiter of waiters) {
      expect(await waiter.outcome).toMatchObject({ error: { code: 'ERR_NO_READY_REPLICA' } });
    }
    expect(lanes.snapshot()).toEqual({ lanes: 0, waiting: 0, longest: null });
  });

  it('keeps no lane for 100 000 distinct sessions once their requests are done', () => {
    const workers = new Workers();
    const lanes = lanesWith(workers);
    for (let i = 0; i < 100_000; i += 1) {
      const sent = send(lanes, `PHPSESSID=session-${i}`);
      if (i % 100 === 99)
        for (const exchange of workers.running.splice(0)) workers.answer(exchange);
      if (i === 50) expect(lanes.snapshot().lanes).toBeGreaterThan(0);
      void sent;
    }
    for (const exchange of [...workers.running]) workers.answer(exchange);
    expect(lanes.snapshot()).toEqual({ lanes: 0, waiting: 0, longest: null });
  });

  it('warns once per lane per minute when a lane holds more than warn_lane, naming only the hash', () => {
    const workers = new Workers();
    const lines: Array<{ msg: string; session?: string }> = [];
    const logger = pino(
      { level: 'warn' },
      { write: (line: string) => lines.push(JSON.parse(line)) },
    );
    const lanes = lanesWith(workers, { warnLane: 3, logger });
    for (let i = 0; i < 10; i += 1) send(lanes, 'PHPSESSID=the-secret-id');
    expect(lines).toHaveLength(1);
    const [line] = lines;
    expect(line?.msg).toMatch(
      /^session [0-9a-f]{12}… has 4 requests waiting: one PHP session lock serialises them$/,
    );
    expect(JSON.stringify(lines)).not.toContain('the-secret-id');
    vi.advanceTimersByTime(30_000);
    send(lanes, 'PHPSESSID=the-secret-id');
    expect(lines).toHaveLength(1);
    vi.advanceTimersByTime(31_000);
    // The first waiters timed out meanwhile (lane_timeout 5 s): fill the lane again.
    for (let i = 0; i < 5; i += 1) send(lanes, 'PHPSESSID=the-secret-id');
    expect(lines).toHaveLength(2);
  });

  it('shows the longest lane with its oldest wait', () => {
    const workers = new Workers();
    const lanes = lanesWith(workers);
    send(lanes, 'PHPSESSID=a');
    send(lanes, 'PHPSESSID=a');
    vi.advanceTimersByTime(1_500);
    send(lanes, 'PHPSESSID=a');
    send(lanes, 'PHPSESSID=b');
    send(lanes, 'PHPSESSID=b');
    const snapshot = lanes.snapshot();
    expect(snapshot).toMatchObject({ lanes: 2, waiting: 3 });
    expect(snapshot.longest?.waiting).toBe(2);
    expect(snapshot.longest?.oldestWaitMs).toBeGreaterThanOrEqual(1_500);
  });
});

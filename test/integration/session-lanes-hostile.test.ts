// Session lanes (`[sessions]`) against bad and hostile session input, on the real daemon with
// the demo app as command replicas. Requests go in over the FastCGI socket with our own
// client, as a web server's: it carries any bytes in HTTP_COOKIE (control characters,
// non-UTF-8), which switchyard's own HTTP front would refuse before the lanes ever saw them.
// Each test starts its own daemon: lanes, warnings and memory are per daemon run.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import type { SessionsStatus } from '../../src/control/messages.js';
import { RecordType, Role } from '../../src/protocol/constants.js';
import { encodeNameValuePairs } from '../../src/protocol/name-value-pairs.js';
import { encodeBeginRequestBody } from '../../src/protocol/record-bodies.js';
import { encodeRecord, encodeStream } from '../../src/protocol/record-encoder.js';
import {
  type FcgiResponse,
  FcgiTestConnection,
  fcgiExchange,
  phpParams,
} from '../support/fcgi-exchange.js';
import { fcgiLoad } from '../support/fcgi-load.js';
import {
  DEMO_APP_REPLICAS,
  demoRelease,
  type ManagedDaemon,
  startManagedDaemon,
} from '../support/managed-daemon.js';
import { RawFcgiClient } from '../support/raw-fcgi-client.js';
import { stopAfterEach } from '../support/stop-after-each.js';
import { waitFor } from '../support/wait-for.js';

const MiB = 1024 * 1024;
const HASH = /^[0-9a-f]{12}$/;
const LANE_WARNING =
  /^session ([0-9a-f]{12})… has (\d+) requests waiting: one PHP session lock serialises them$/;

let daemon: ManagedDaemon | null = null;

const keep = stopAfterEach();

/** Two replicas of capacity 4: room for every test's parallel requests, so only lanes wait. */
async function startWithSessions(label: string, sessions: readonly string[]) {
  daemon = keep(
    await startManagedDaemon({
      label,
      replicas: DEMO_APP_REPLICAS(2, 4),
      releaseSource: demoRelease('v1'),
      extra: ['[sessions]', ...sessions],
    }),
  );
  return daemon;
}

interface Timed {
  readonly response: FcgiResponse;
  /** performance.now() when the request was sent and when its answer was complete. */
  readonly sentAt: number;
  readonly endedAt: number;
  readonly ms: number;
}

/** One request on its own connection, as a web server sends it; `cookie` is latin1 bytes. */
async function send(target: ManagedDaemon, uri: string, cookie?: string): Promise<Timed> {
  const extra = cookie === undefined ? {} : { HTTP_COOKIE: cookie };
  const sentAt = performance.now();
  const response = await fcgiExchange(target.fastcgiSocket, {
    params: phpParams(target.release, uri, extra),
  });
  const endedAt = performance.now();
  return { response, sentAt, endedAt, ms: endedAt - sentAt };
}

function header(response: FcgiResponse, name: string): string | undefined {
  return response.headers.find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1];
}

async function sessionsOf(target: ManagedDaemon): Promise<SessionsStatus> {
  const sessions = (await target.status()).sessions;
  if (sessions == null) throw new Error('status has no sessions object: is [sessions] applied?');
  return sessions;
}

/** Polls status until the lanes look as `wanted` says (a bounded wait, never a guess). */
function untilLanes(
  target: ManagedDaemon,
  wanted: { lanes: number; waiting: number },
  what: string,
): Promise<SessionsStatus> {
  return waitFor(
    async () => {
      const sessions = await sessionsOf(target);
      return sessions.lanes === wanted.lanes && sessions.waiting === wanted.waiting
        ? sessions
        : null;
    },
    { timeoutMs: 5_000, intervalMs: 10, what },
  );
}

/** `switchyard status --json` as an operator runs it; its stdout too, for leak checks. */
async function statusJson(
  target: ManagedDaemon,
): Promise<{ text: string; sessions: SessionsStatus }> {
  const result = await target.cli(['status', '--json']);
  expect(result.code, result.stderr).toBe(0);
  const parsed = JSON.parse(result.stdout) as { sessions?: SessionsStatus | null };
  if (parsed.sessions == null) throw new Error(`no sessions in status --json: ${result.stdout}`);
  return { text: result.stdout, sessions: parsed.sessions };
}

function vmRss(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/** The daemon's lane warnings so far (pino JSON lines on stdout): hash and count of each. */
function laneWarnings(target: ManagedDaemon): Array<{ hash: string; waiting: number }> {
  const found: Array<{ hash: string; waiting: number }> = [];
  for (const line of target.switchyard.stdout().split('\n')) {
    let msg: unknown;
    try {
      msg = (JSON.parse(line) as { msg?: unknown }).msg;
    } catch {
      continue; // not a log record, or the last line still arriving
    }
    const match = typeof msg === 'string' ? LANE_WARNING.exec(msg) : null;
    if (match !== null) found.push({ hash: match[1] as string, waiting: Number(match[2]) });
  }
  return found;
}

function expectAlive(target: ManagedDaemon): void {
  expect(target.switchyard.child.exitCode).toBeNull();
  expect(target.switchyard.child.signalCode).toBeNull();
}

/** A client that did nothing wrong is still served, with its own session. */
async function expectGoodClientServed(target: ManagedDaemon): Promise<void> {
  const good = await send(
    target,
    '/release.json',
    `PHPSESSID=good-${randomBytes(8).toString('hex')}`,
  );
  expect(good.response.status).toBe(200);
  expect(JSON.parse(good.response.body.toString()).release).toBe('v1');
}

describe('session lanes against hostile session input (real daemon, demo app replicas)', () => {
  it('forgets every lane after thousands of distinct session ids, with bounded memory', async () => {
    const target = await startWithSessions('sl-many', []);
    const pid = target.switchyard.child.pid as number;
    // Large ids: 6 000 of 24 KiB are 140 MiB, so a per-session leak (an id → hash cache, a
    // lane or a warning kept per id) breaks the RSS bound, not only the lane count.
    const padding = 'x'.repeat(24 * 1024);
    const idFor = (round: string, i: number) => `${round}-${i}-${padding}`;
    const load = (round: string, count: number) =>
      fcgiLoad(target.fastcgiSocket, count, 8, (i) =>
        phpParams(target.release, '/', { HTTP_COOKIE: `PHPSESSID=${idFor(round, i)}` }),
      );
    // A warm-up of the same shape first: the heap grows to its working size (and the code is
    // compiled) before the baseline, so the bound measures what the flood leaves behind.
    const warm = await load('warm', 1_500);
    expect(warm.every((result) => !(result instanceof Error) && result.status === 200)).toBe(true);
    const before = vmRss(pid);

    const started = performance.now();
    const results = await load('flood', 6_000);
    const seconds = (performance.now() - started) / 1000;
    const failures = results.filter((result) => result instanceof Error || result.status !== 200);
    expect(failures.slice(0, 3), `${failures.length} of ${results.length} failed`).toEqual([]);

    const { sessions } = await statusJson(target);
    expect(sessions).toMatchObject({ perSession: 1, lanes: 0, waiting: 0, longest: null });
    const growth = vmRss(pid) - before;
    expect(
      growth,
      `RSS grew by ${(growth / MiB).toFixed(1)} MiB in ${seconds.toFixed(1)} s`,
    ).toBeLessThan(100 * MiB);
    expectAlive(target);
    await expectGoodClientServed(target);
  });

  it('answers malformed Cookie headers from the application and keeps serving', async () => {
    const target = await startWithSessions('sl-bad', []);
    // latin1 strings: each character is one byte on the wire, so \xff is a lone 0xff byte.
    const cases: Array<[what: string, cookie: string]> = [
      ['empty', ''],
      ['only spaces', '   \t '],
      ['no "="', 'PHPSESSID'],
      ['only ";;;"', ';;;'],
      ['"=value"', '=value'],
      ['"=" alone and empty pairs', '=; ; =;=='],
      ['empty session value', 'PHPSESSID=; PHPSESSID='],
      ['stray quotes', '"PHPSESSID"="abc"; PHPSESSID="unterminated; "=";'],
      ['quoted value', 'PHPSESSID="quoted value"'],
      ['control characters', 'PHPSESSID=a\x00b\x01c\x7f; x=\r\n\x1b[2J'],
      ['NUL name', '\x00=1; PHPSESSID\x00=2'],
      ['non-UTF-8 value', 'PHPSESSID=\xff\xfe\xc3\x28\x80'],
      ['non-UTF-8 name', '\xff\xfe=1; \x80PHPSESSID=2'],
      ['name with spaces', 'PHP SESSID=abc; my cookie=1'],
      ['spaces around the name', '  PHPSESSID  =  spaced  '],
      ['broken escapes', 'PHPSESSID=%; x=%zz%4'],
      ['escape of NUL', 'PHPSESSID=%00%0'],
      ['plus only', 'PHPSESSID=+'],
      ['many "="', 'PHPSESSID==a=b==c'],
      ['semicolons only between', 'PHPSESSID=a;;;;PHPSESSID=b;;;'],
      ['commas (RFC 2965 style)', '$Version=1, PHPSESSID=a, $Path=/'],
      // One pair must fit one FastCGI record (65 535 bytes): just under it, far under max_params.
      ['60 000-byte header', `${'j=unk; '.repeat(8_500)}PHPSESSID=long`.slice(0, 60_000)],
      ['60 000-byte value', `PHPSESSID=${'v'.repeat(59_990)}`],
      ['60 000 separators', ';'.repeat(60_000)],
    ];
    for (const [what, cookie] of cases) {
      const { response } = await send(target, '/', cookie);
      expect(response.status, what).toBe(200);
      expect(response.body.toString(), what).toContain('Hello from switchyard demo');
    }
    expectAlive(target);
    // Every lane those opened is gone again: a parse that opened a lane it never closed shows.
    expect(await sessionsOf(target)).toMatchObject({ lanes: 0, waiting: 0, longest: null });
    await expectGoodClientServed(target);
  });

  it('finds the session cookie after 199 others, exactly by name', async () => {
    const target = await startWithSessions('sl-200', []);
    // Look-alikes among the decoys: a prefix match, a suffix match or a case-blind match
    // would take one of them, and then two different sessions would look like one.
    const decoys = Array.from({ length: 199 }, (_, i) => {
      if (i % 4 === 0) return `PHPSESSID_${i}=decoy`;
      if (i % 4 === 1) return `X_PHPSESSID=decoy`;
      if (i % 4 === 2) return `phpsessid=decoy`;
      return `c${i}=${'d'.repeat(20)}`;
    });
    const cookieFor = (session: string) => [...decoys, `PHPSESSID=${session}`].join('; ');
    const sleep = 700;

    // The same session twice: one waits in its lane, so they take two sleeps, not one.
    const sameStart = performance.now();
    const same = [
      send(target, `/sleep?ms=${sleep}`, cookieFor('last-one')),
      send(target, `/sleep?ms=${sleep}`, cookieFor('last-one')),
    ];
    const serialised = await untilLanes(
      target,
      { lanes: 1, waiting: 1 },
      'one lane with one request waiting',
    );
    expect(serialised.longest).toMatchObject({ waiting: 1, session: expect.stringMatching(HASH) });
    const sameResults = await Promise.all(same);
    const sameMs = performance.now() - sameStart;
    for (const { response } of sameResults) expect(response.status).toBe(200);
    expect(sameMs).toBeGreaterThanOrEqual(2 * sleep - 50);

    // Two sessions that differ only in the last cookie: two lanes, both in the workers at once.
    const differentStart = performance.now();
    const different = [
      send(target, `/sleep?ms=${sleep}`, cookieFor('last-one')),
      send(target, `/sleep?ms=${sleep}`, cookieFor('last-two')),
    ];
    await untilLanes(target, { lanes: 2, waiting: 0 }, 'two lanes, nothing waiting');
    const differentResults = await Promise.all(different);
    const differentMs = performance.now() - differentStart;
    for (const { response } of differentResults) expect(response.status).toBe(200);
    expect(differentMs).toBeLessThan(2 * sleep - 100);
    expect(await sessionsOf(target)).toMatchObject({ lanes: 0, waiting: 0 });
  });

  it('keys an 8 KiB session id whole, and never writes it to the log or to status', async () => {
    const target = await startWithSessions('sl-8k', ['lane_queue = 2', 'warn_lane = 1']);
    // Random hex: any 16-character piece of it showing up anywhere is a leak, not chance.
    const id = randomBytes(4096).toString('hex');
    // Same first 4 KiB: a key cut short (a prefix, a capped length) would make it the same.
    const twin = `${id.slice(0, 4096)}${randomBytes(2048).toString('hex')}`;
    const cookie = `PHPSESSID=${id}`;
    // The holder stays in the workers until the test lets go of it (closing its connection
    // aborts it): the status CLI below takes seconds to start on a loaded machine.
    const holder = await FcgiTestConnection.open(target.fastcgiSocket);
    const held = holder
      .request({ params: phpParams(target.release, '/sleep?ms=60000', { HTTP_COOKIE: cookie }) })
      .then(
        () => 'answered',
        () => 'aborted',
      );
    await untilLanes(target, { lanes: 1, waiting: 0 }, 'the holder in the workers');
    const waiters = [send(target, '/sleep?ms=10', cookie), send(target, '/sleep?ms=10', cookie)];
    const busy = await untilLanes(target, { lanes: 1, waiting: 2 }, 'two waiting behind it');
    const hash = busy.longest?.session as string;
    expect(hash).toMatch(HASH);
    // Its lane is full (lane_queue = 2): one more is refused, which the daemon logs.
    const refused = await send(target, '/', cookie);
    expect(refused.response.status).toBe(429);
    // The twin is another session: it runs now, beside the holder.
    const other = await send(target, '/sleep?ms=10', `PHPSESSID=${twin}`);
    expect(other.response.status).toBe(200);
    // What an operator sees while the lane is busy: hashes only.
    const [json, human] = await Promise.all([statusJson(target), target.cli(['status'])]);
    expect(json.sessions).toMatchObject({ lanes: 1, waiting: 2 });
    expect(json.sessions.longest).toMatchObject({ session: hash, waiting: 2 });
    expect(human.stdout).toContain(`${hash}…`);

    // Only now do the waiters get their turn, one after the other.
    const releasedAt = performance.now();
    holder.close();
    expect(await held).toBe('aborted');
    for (const waiter of await Promise.all(waiters)) {
      expect(waiter.response.status).toBe(200);
      expect(waiter.endedAt).toBeGreaterThan(releasedAt);
    }
    expect(await sessionsOf(target)).toMatchObject({ lanes: 0, waiting: 0 });
    // The log names the session (the warning, the 429): so the leak check below looks at
    // lines that are about this session, not at a log that never mentions it.
    expect(laneWarnings(target)).toEqual([{ hash, waiting: 2 }]);
    const log = target.switchyard.stdout() + target.switchyard.stderr();
    expect(log).toMatch(new RegExp(`"code":"ERR_LANE_FULL","session":"${hash}"`));
    // The client is told why, but not the hash: it could learn the hash of any id it sends.
    expect(refused.response.body.toString()).not.toContain(hash);
    for (const [where, text] of [
      ['the daemon log', log],
      ['status --json', json.text],
      ['status', human.stdout + human.stderr],
    ] as const) {
      for (const secret of [id, twin]) {
        for (let at = 0; at + 16 <= secret.length; at += 16) {
          const piece = secret.slice(at, at + 16);
          if (text.includes(piece)) throw new Error(`${where} shows the session id: …${piece}…`);
        }
      }
    }
  });

  it('keeps the first of two cookies of the same name, as PHP does', async () => {
    const target = await startWithSessions('sl-dup', []);
    const both = send(target, '/sleep?ms=1500', 'PHPSESSID=a; PHPSESSID=b');
    await untilLanes(target, { lanes: 1, waiting: 0 }, 'the "a; b" request in the workers');
    // Session b is not the one in the workers: it gets a lane of its own and runs at once.
    const onlyB = send(target, '/sleep?ms=600', 'PHPSESSID=b');
    await untilLanes(target, { lanes: 2, waiting: 0 }, 'sessions a and b side by side');
    // Session a is: it waits for "a; b".
    const onlyA = send(target, '/sleep?ms=10', 'PHPSESSID=a');
    await waitFor(async () => (await sessionsOf(target)).waiting === 1, {
      timeoutMs: 5_000,
      intervalMs: 10,
      what: 'the PHPSESSID=a request to wait in its lane',
    });
    const [first, b, a] = await Promise.all([both, onlyB, onlyA]);
    for (const { response } of [first, b, a]) expect(response.status).toBe(200);
    expect(b.endedAt).toBeLessThan(first.endedAt);
    expect(a.endedAt).toBeGreaterThan(first.endedAt);
  });

  it('takes the cookie over the query parameter when both carry the session', async () => {
    const target = await startWithSessions('sl-src', ['params = ["PHPSESSID"]']);
    const both = send(target, '/sleep?ms=2000&PHPSESSID=q1', 'PHPSESSID=c1');
    await untilLanes(
      target,
      { lanes: 1, waiting: 0 },
      'the cookie-and-query request in the workers',
    );
    // q1 is not its session: a query-only request for q1 runs beside it.
    const query = send(target, '/sleep?ms=800&PHPSESSID=q1');
    await untilLanes(target, { lanes: 2, waiting: 0 }, 'sessions c1 and q1 side by side');
    // The query does carry a session when no cookie does: the next q1 waits for the first,
    // and c1 (the cookie alone) waits for the request that had both.
    const querySecond = send(target, '/sleep?ms=10&PHPSESSID=q1');
    const cookie = send(target, '/sleep?ms=10', 'PHPSESSID=c1');
    await untilLanes(target, { lanes: 2, waiting: 2 }, 'one waiting in each lane');
    const [first, q, q2, c] = await Promise.all([both, query, querySecond, cookie]);
    for (const { response } of [first, q, q2, c]) expect(response.status).toBe(200);
    expect(q.endedAt).toBeLessThan(first.endedAt);
    expect(q2.endedAt).toBeGreaterThan(q.endedAt);
    expect(c.endedAt).toBeGreaterThan(first.endedAt);
  });

  it('refuses past lane_queue at once, times waiters out at lane_timeout, warns once', async () => {
    const target = await startWithSessions('sl-bound', [
      'lane_queue = 2',
      'lane_timeout = "1s"',
      'warn_lane = 1',
    ]);
    const id = `hot-${randomBytes(16).toString('hex')}`;
    const cookie = `PHPSESSID=${id}`;
    // Long enough to outlast two rounds of lane timeouts below, even on a slow machine.
    const holder = send(target, '/sleep?ms=4000', cookie);
    await untilLanes(target, { lanes: 1, waiting: 0 }, 'the holder in the workers');
    const waiters = [send(target, '/sleep?ms=10', cookie), send(target, '/sleep?ms=10', cookie)];
    const full = await untilLanes(target, { lanes: 1, waiting: 2 }, 'two waiting behind it');
    const hash = full.longest?.session as string;
    expect(hash).toMatch(HASH);

    const extra = await send(target, '/sleep?ms=10', cookie);
    expect(extra.response.status).toBe(429);
    expect(header(extra.response, 'X-Switchyard')).toBe('generated');
    expect(header(extra.response, 'Retry-After')).toMatch(/^\d+$/);
    expect(extra.ms).toBeLessThan(500);
    // Requests without a session, or of another one, do not queue behind the hot lane.
    const plain = await send(target, '/release.json');
    expect(plain.response.status).toBe(200);
    expect(plain.ms).toBeLessThan(1_000);
    const stranger = await send(target, '/release.json', 'PHPSESSID=someone-else');
    expect(stranger.response.status).toBe(200);
    expect(stranger.ms).toBeLessThan(1_000);

    for (const waiter of await Promise.all(waiters)) {
      expect(waiter.response.status).toBe(503);
      expect(header(waiter.response, 'X-Switchyard')).toBe('generated');
      expect(header(waiter.response, 'Retry-After')).toMatch(/^\d+$/);
      expect(waiter.ms).toBeGreaterThanOrEqual(900);
      expect(waiter.ms).toBeLessThan(2_500);
    }
    // The lane crosses warn_lane a second time within the minute: no second warning.
    const again = [send(target, '/sleep?ms=10', cookie), send(target, '/sleep?ms=10', cookie)];
    await untilLanes(target, { lanes: 1, waiting: 2 }, 'two waiting again');
    for (const waiter of await Promise.all(again)) expect(waiter.response.status).toBe(503);
    const held = await holder;
    expect(held.response.status).toBe(200);
    expect(await sessionsOf(target)).toMatchObject({ lanes: 0, waiting: 0, longest: null });

    // Read once every request is answered: the log lines were written long before.
    expect(laneWarnings(target).filter((warning) => warning.hash === hash)).toEqual([
      { hash, waiting: 2 },
    ]);
    const log = target.switchyard.stdout() + target.switchyard.stderr();
    expect(log).not.toContain(id.slice(4));
  });

  it('does not stall other clients on a Cookie and query near the params cap', async () => {
    const target = await startWithSessions('sl-cap', ['params = ["PHPSESSID"]']);
    // Only separators, no "=": 940 000 empty pairs, under max_params (1 MiB). Each must cost
    // next to nothing; a search for "=" that runs on past its pair's end to the end of the
    // header makes the whole quadratic, seconds of a daemon that serves no one.
    const hostile = phpParams(target.release, '/', {
      HTTP_COOKIE: ';'.repeat(470_000),
      QUERY_STRING: '&'.repeat(470_000),
    });
    const raw = await RawFcgiClient.open(target.fastcgiSocket);
    try {
      // A pair this long spans records, which FastCGI allows a client to send (nginx would
      // not, but the front reads what any client sends).
      raw.send(
        Buffer.concat([
          encodeRecord(RecordType.BeginRequest, 1, encodeBeginRequestBody(Role.Responder, false)),
          encodeStream(RecordType.Params, 1, encodeNameValuePairs(hostile), true),
          encodeRecord(RecordType.Stdin, 1),
        ]),
      );
      // A good client keeps asking while the hostile request is handled: its slowest answer
      // is how long the daemon stopped serving anyone.
      const latencies: number[] = [];
      let answered = false;
      const ended = raw
        .waitForRecord(
          (record) => record.type === RecordType.EndRequest,
          'the hostile request to end',
          30_000,
        )
        .finally(() => {
          answered = true;
        });
      while (!answered) {
        const probe = await send(target, '/release.json', 'PHPSESSID=good-client');
        expect(probe.response.status).toBe(200);
        latencies.push(probe.ms);
      }
      await ended;
      expect(
        Math.max(...latencies),
        `probe latencies ${latencies.map(Math.round).join(', ')} ms`,
      ).toBeLessThan(1_000);
    } finally {
      raw.destroy();
    }
    expectAlive(target);
    await expectGoodClientServed(target);
  });
});

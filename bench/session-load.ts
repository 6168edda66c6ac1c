import { Agent } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { type TimedResponse, timedGet } from './timed-request.js';

/** `session`: the fixtures' session.php, which holds the session lock; `plain`: hello.php. */
export type SessionPage = 'session' | 'plain';

/** One request of a session load. */
export interface SessionLoadRecord {
  readonly page: SessionPage;
  /** performance.now() when the request was sent. */
  readonly sentAt: number;
  /** From send to the end of the body, or to the error. */
  readonly latencyMs: number;
  /** null when no response head arrived. */
  readonly status: number | null;
  /** Why it failed (network error, cut-off body, timeout); null when whole. */
  readonly error: string | null;
  /**
   * session.php's own clock (epoch seconds): when the script started, before it asked for
   * the lock, and when it ended; the time it held a worker. null for other pages and failures.
   */
  readonly ran: { readonly start: number; readonly end: number } | null;
}

export interface SessionLoadRun {
  /** performance.now() when the load began. */
  readonly startedAt: number;
  /** Every request sent, by send time. */
  readonly records: readonly SessionLoadRecord[];
}

export interface GlobalSessionOptions {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** `PHPSESSID=…`: the one session every session request carries. */
  readonly cookie: string;
  /** Keep-alive connections sending session requests, one at a time each. */
  readonly clients: number;
  /** How long session.php holds the lock. */
  readonly holdMs: number;
  /** How long new requests are sent; the ones in flight then are waited for. */
  readonly seconds: number;
  /** A no-session request is sent this often, whether the earlier ones were answered or not. */
  readonly plainEveryMs: number;
  readonly timeoutMs: number;
}

/**
 * A site whose every request shares one session (a busy user, a bot with one cookie):
 * `clients` connections send session requests back to back, while one more client asks for a
 * page without a session every `plainEveryMs`. That client does not wait for its answers
 * before sending the next (each waits on a connection of its own), so a stall shows in full
 * on every request sent during it, and its count stays bounded: seconds / plainEveryMs.
 */
export async function runGlobalSession(options: GlobalSessionOptions): Promise<SessionLoadRun> {
  const sessionAgent = new Agent({ keepAlive: true, maxSockets: options.clients });
  const plainAgent = new Agent({ keepAlive: true });
  const records: SessionLoadRecord[] = [];
  const startedAt = performance.now();
  const endAt = startedAt + options.seconds * 1000;
  const sessionUrl = new URL(`/session.php?hold=${options.holdMs}`, options.url);
  const plainUrl = new URL('/hello.php', options.url);

  const client = async () => {
    while (performance.now() < endAt) {
      const answer = await timedGet(sessionUrl, {
        agent: sessionAgent,
        headers: { cookie: options.cookie },
        timeoutMs: options.timeoutMs,
      });
      records.push(record('session', answer));
    }
  };
  const ticker = async () => {
    const pending: Promise<void>[] = [];
    for (let k = 0; startedAt + k * options.plainEveryMs < endAt; k += 1) {
      const wait = startedAt + k * options.plainEveryMs - performance.now();
      if (wait > 0) await delay(wait);
      pending.push(
        timedGet(plainUrl, { agent: plainAgent, timeoutMs: options.timeoutMs }).then((answer) => {
          records.push(record('plain', answer));
        }),
      );
    }
    await Promise.all(pending);
  };
  try {
    await Promise.all([...Array.from({ length: options.clients }, client), ticker()]);
  } finally {
    sessionAgent.destroy();
    plainAgent.destroy();
  }
  return { startedAt, records: records.sort((a, b) => a.sentAt - b.sentAt) };
}

export interface AjaxBurstOptions {
  readonly url: string;
  /** `PHPSESSID=…` of the user firing the parallel requests. */
  readonly cookie: string;
  /** That user's parallel requests (a page firing three AJAX calls at once). */
  readonly parallel: number;
  readonly holdMs: number;
  /** Requests of other users, without a session, each on its own connection. */
  readonly others: number;
  /** They leave this long after the session requests, so they meet them in the server. */
  readonly othersAfterMs: number;
  readonly timeoutMs: number;
}

/**
 * One user's page fires `parallel` requests of its session at once, and `others` requests of
 * other users (no session) arrive just after. Every request has a connection of its own, as
 * a browser's parallel requests and different users' do.
 */
export async function runAjaxBurst(options: AjaxBurstOptions): Promise<SessionLoadRun> {
  const agent = new Agent({ keepAlive: false });
  const startedAt = performance.now();
  const sessionUrl = new URL(`/session.php?hold=${options.holdMs}`, options.url);
  const plainUrl = new URL('/hello.php', options.url);
  try {
    const session = Array.from({ length: options.parallel }, () =>
      timedGet(sessionUrl, {
        agent,
        headers: { cookie: options.cookie },
        timeoutMs: options.timeoutMs,
      }).then((answer) => record('session', answer)),
    );
    await delay(options.othersAfterMs);
    const others = Array.from({ length: options.others }, () =>
      timedGet(plainUrl, { agent, timeoutMs: options.timeoutMs }).then((answer) =>
        record('plain', answer),
      ),
    );
    const records = await Promise.all([...session, ...others]);
    return { startedAt, records: records.sort((a, b) => a.sentAt - b.sentAt) };
  } finally {
    agent.destroy();
  }
}

/**
 * A session as PHP hands it out: the `PHPSESSID=…` pair from the Set-Cookie of a first
 * request without a cookie. Asked for, not made up, so it is a session PHP accepts whatever
 * its `session.use_strict_mode`.
 */
export async function startSession(url: string, timeoutMs: number): Promise<string> {
  const agent = new Agent({ keepAlive: false });
  try {
    const answer = await timedGet(new URL('/session.php?hold=0', url), { agent, timeoutMs });
    const pair = (answer.headers['set-cookie'] ?? [])
      .map((cookie) => cookie.split(';')[0] ?? '')
      .find((cookie) => cookie.startsWith('PHPSESSID='));
    if (answer.status !== 200 || pair === undefined) {
      throw new Error(
        `GET /session.php?hold=0 answered ${answer.status ?? answer.error} without a PHPSESSID cookie`,
      );
    }
    return pair;
  } finally {
    agent.destroy();
  }
}

function record(page: SessionPage, answer: TimedResponse): SessionLoadRecord {
  return {
    page,
    sentAt: answer.sentAt,
    latencyMs: answer.latencyMs,
    status: answer.status,
    error: answer.error,
    ran: page === 'session' && answer.error === null ? scriptTimes(answer.body) : null,
  };
}

/** session.php answers `{…, "start": 1764640000.123, "end": …}`; anything else gives null. */
function scriptTimes(body: string): { start: number; end: number } | null {
  try {
    const page = JSON.parse(body) as { start?: unknown; end?: unknown };
    return typeof page.start === 'number' && typeof page.end === 'number'
      ? { start: page.start, end: page.end }
      : null;
  } catch {
    return null;
  }
}

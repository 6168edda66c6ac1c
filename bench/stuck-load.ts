import { Agent } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { type TimedResponse, timedGet } from './timed-request.js';

/**
 * `plain`: hello.php, no session; `session`: session.php?hold=0 of the stuck user's session;
 * `holder`: the one request of that session whose script never lets go of the lock.
 */
export type StuckPage = 'plain' | 'session' | 'holder';

export interface StuckLoadRecord {
  readonly page: StuckPage;
  /** performance.now() when the request was sent. */
  readonly sentAt: number;
  /** From send to the end of the body, or to the error (at the latest, the run's end). */
  readonly latencyMs: number;
  /** null when no response head arrived. */
  readonly status: number | null;
  /** Why it failed; `no answer by the end of the run` for one still waiting then. */
  readonly error: string | null;
}

export interface StuckLoadRun {
  /** performance.now() when the load began. */
  readonly startedAt: number;
  /** performance.now() when the holder was sent: the moment the hang began. */
  readonly holderSentAt: number;
  /** Every request sent, by send time. */
  readonly records: readonly StuckLoadRecord[];
}

export interface StuckLoadOptions {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** `PHPSESSID=…` of the stuck user. */
  readonly cookie: string;
  /** How long new requests are sent. */
  readonly seconds: number;
  /** When the holder is sent, after the load's start. */
  readonly holdAtMs: number;
  /** The holder's page, e.g. `/hang.php?ms=600000`. */
  readonly holderPath: string;
  /** A no-session request this often, whether the earlier ones were answered or not. */
  readonly plainEveryMs: number;
  /** A request of the stuck user's session this often, likewise. */
  readonly sessionEveryMs: number;
  /** After the last send, how long answers are waited for; then whatever is left fails. */
  readonly graceMs: number;
}

/** The timeout message of a request cut off at the run's end (see `cutOff`). */
export const CUT_OFF = 'no answer by the end of the run';

/**
 * A site where one user's session gets stuck: a no-session page and that user's session page
 * are asked for at a steady pace (open loop: each request on a connection of its own, sent
 * whether the earlier ones were answered or not, so a hang shows on every request sent during
 * it and their count stays bounded), and `holdAtMs` in, one request of the session runs a
 * script that takes the session lock and never lets go. Every request still waiting
 * `graceMs` after the last send fails there, so a run ends on time however hung the site.
 */
export async function runStuckLoad(options: StuckLoadOptions): Promise<StuckLoadRun> {
  const agent = new Agent({ keepAlive: true });
  const records: StuckLoadRecord[] = [];
  const startedAt = performance.now();
  const endAt = startedAt + options.seconds * 1000;
  const cutOffAt = endAt + options.graceMs;
  const send = (page: StuckPage, path: string, cookie?: string) =>
    timedGet(new URL(path, options.url), {
      agent,
      ...(cookie === undefined ? {} : { headers: { cookie } }),
      timeoutMs: Math.max(1, cutOffAt - performance.now()),
    }).then((answer) => {
      records.push(record(page, answer));
    });
  const ticker = async (everyMs: number, page: StuckPage, path: string, cookie?: string) => {
    const pending: Promise<void>[] = [];
    for (let k = 0; startedAt + k * everyMs < endAt; k += 1) {
      const wait = startedAt + k * everyMs - performance.now();
      if (wait > 0) await delay(wait);
      pending.push(send(page, path, cookie));
    }
    await Promise.all(pending);
  };
  let holderSentAt = Number.NaN;
  const holder = async () => {
    await delay(options.holdAtMs);
    holderSentAt = performance.now();
    await send('holder', options.holderPath, options.cookie);
  };
  try {
    await Promise.all([
      ticker(options.plainEveryMs, 'plain', '/hello.php'),
      ticker(options.sessionEveryMs, 'session', '/session.php?hold=0', options.cookie),
      holder(),
    ]);
  } finally {
    agent.destroy();
  }
  return { startedAt, holderSentAt, records: records.sort((a, b) => a.sentAt - b.sentAt) };
}

function record(page: StuckPage, answer: TimedResponse): StuckLoadRecord {
  const cutOff = answer.error?.includes('no answer within') === true;
  return {
    page,
    sentAt: answer.sentAt,
    latencyMs: answer.latencyMs,
    status: answer.status,
    error: cutOff ? CUT_OFF : answer.error,
  };
}

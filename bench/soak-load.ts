import { Agent } from 'node:http';
import { performance } from 'node:perf_hooks';
import { timedGet } from './timed-request.js';

/** A request that did not get the whole, right answer: kept to be listed. */
export interface SoakFailure {
  /** Seconds after the load began. */
  readonly atSeconds: number;
  readonly path: string;
  readonly status: number | null;
  readonly error: string | null;
  /** Why the answer is wrong when it came whole (wrong body, release header not the body's). */
  readonly problem: string | null;
  readonly bodyStart: string;
}

export interface SoakLoadOptions {
  /** nginx's base URL. */
  readonly url: string;
  /** Keep-alive connections, each sending its next request as soon as its answer is in. */
  readonly connections: number;
  /** Every n-th request is the slow page (`/wait.php?ms=<slowMs>`); the rest alternate. */
  readonly slowEvery: number;
  readonly slowMs: number;
  /** The daemon's `[response] release_header`: must name the release the page says ran it. */
  readonly releaseHeader: string;
  readonly requestTimeoutMs: number;
  /**
   * Asked before each request with the number answered or failed so far; the load ends when
   * it says no (requests in flight finish).
   */
  readonly keepGoing: (completed: number) => boolean;
}

export interface SoakLoadResult {
  readonly requests: number;
  readonly failed: number;
  /** The first 1000 failures; `failed` counts them all. */
  readonly failures: readonly SoakFailure[];
  /** Latencies (ms) of the whole answers, fast pages and slow pages apart. */
  readonly fastLatencies: readonly number[];
  readonly slowLatencies: readonly number[];
  /** Whole answers by the release that ran them (hello.php does not say). */
  readonly byRelease: Readonly<Record<string, number>>;
  readonly durationMs: number;
}

export interface SoakLoad {
  /** Requests answered or failed so far. */
  completed(): number;
  /** Resolves once `keepGoing` said no and the requests in flight are done. */
  readonly finished: Promise<SoakLoadResult>;
}

const KEPT_FAILURES = 1000;
const HELLO = 'Hello, world\n';

/**
 * A closed-loop keep-alive load through nginx for as long as `keepGoing` says, checking every
 * answer: hello.php must say hello, index.php and the slow page must name a release and the
 * release header must agree with it (one release per request). Holds two numbers a request,
 * not the answers, so a million requests cost a few MiB.
 */
export function startSoakLoad(options: SoakLoadOptions): SoakLoad {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const header = options.releaseHeader.toLowerCase();
  const fastLatencies: number[] = [];
  const slowLatencies: number[] = [];
  const failures: SoakFailure[] = [];
  const byRelease: Record<string, number> = {};
  const startedAt = performance.now();
  let sent = 0;
  let completed = 0;
  let failed = 0;

  const pathOf = (i: number): { path: string; slow: boolean } => {
    if (i % options.slowEvery === options.slowEvery - 1) {
      return { path: `/wait.php?ms=${options.slowMs}`, slow: true };
    }
    return { path: i % 2 === 0 ? '/hello.php' : '/index.php', slow: false };
  };

  const worker = async () => {
    while (options.keepGoing(completed)) {
      const { path, slow } = pathOf(sent);
      sent += 1;
      const answer = await timedGet(new URL(path, options.url), {
        agent,
        timeoutMs: options.requestTimeoutMs,
      });
      completed += 1;
      const problem =
        answer.error === null && answer.status === 200
          ? checkBody(path, answer.body, answer.headers[header], byRelease)
          : null;
      if (answer.error === null && answer.status === 200 && problem === null) {
        (slow ? slowLatencies : fastLatencies).push(answer.latencyMs);
        continue;
      }
      failed += 1;
      if (failures.length < KEPT_FAILURES) {
        failures.push({
          atSeconds: (answer.sentAt - startedAt) / 1000,
          path,
          status: answer.status,
          error: answer.error,
          problem,
          bodyStart: answer.body.slice(0, 300),
        });
      }
    }
  };

  const finished = Promise.all(Array.from({ length: options.connections }, worker)).then(() => {
    agent.destroy();
    return {
      requests: completed,
      failed,
      failures,
      fastLatencies,
      slowLatencies,
      byRelease,
      durationMs: performance.now() - startedAt,
    };
  });
  return { completed: () => completed, finished };
}

/** Null when the answer is right; else what is wrong with it. Counts the release that ran it. */
function checkBody(
  path: string,
  body: string,
  header: string | string[] | undefined,
  byRelease: Record<string, number>,
): string | null {
  if (path === '/hello.php') return body === HELLO ? null : 'not the hello page';
  let release: unknown;
  try {
    release = (JSON.parse(body) as { release?: unknown }).release;
  } catch {
    return 'not the JSON page';
  }
  if (typeof release !== 'string') return 'no release in the page';
  if (header !== release) return `release header ${String(header)}, page ran ${release}`;
  byRelease[release] = (byRelease[release] ?? 0) + 1;
  return null;
}

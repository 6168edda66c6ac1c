import { Agent } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { timedGet } from './timed-request.js';

/** One request of a paced load: when it left, how long it took, and who answered. */
export interface LoadRecord {
  readonly path: string;
  /** The sleep the page was asked for (0 for a fast page): not counted as a stall. */
  readonly sleepMs: number;
  /** performance.now() when the request was sent. */
  readonly sentAt: number;
  /** From send to the end of the body, or to the error. */
  readonly latencyMs: number;
  /** null when no response head arrived. */
  readonly status: number | null;
  /** Why it failed (network error, cut-off body, timeout); null when whole. */
  readonly error: string | null;
  /** The `release` field of the page's JSON answer, or null. */
  readonly release: string | null;
  /** The release header's value (switchyard's `[response] release_header`), or null. */
  readonly header: string | null;
  /** The php-fpm worker that answered (the page's `pid`), or null. */
  readonly pid: number | null;
}

export interface PacedLoadOptions {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** Keep-alive connections, one request in flight on each at a time. */
  readonly connections: number;
  /** Requests per second over all connections, when nothing is slow. */
  readonly ratePerSecond: number;
  /** Every n-th request is `<slowPage>?ms=<slowMs>`, the rest `/index.php`. */
  readonly slowEvery: number;
  /** The other way round: every n-th request is `/index.php`, the rest slow (replaces slowEvery). */
  readonly fastEvery?: number;
  readonly slowPage: string;
  readonly slowMs: number;
  /** Header to record (lower or mixed case); none unless told. */
  readonly releaseHeader?: string;
  /** A request with no whole answer within this fails with a timeout. */
  readonly requestTimeoutMs: number;
}

export interface PacedLoad {
  /** performance.now() when the first request was due. */
  readonly startedAt: number;
  /** Sends nothing new, waits for the requests in flight, returns every record by send time. */
  stop(): Promise<LoadRecord[]>;
}

/**
 * Keeps a fixed request rate over a fixed number of keep-alive connections until stopped.
 * Each connection sends one request every `connections / ratePerSecond` seconds (staggered),
 * or at once when its previous answer came later than that; it never has two in flight, so
 * while a server stalls no new requests pile up behind the stuck ones.
 */
export function startPacedLoad(options: PacedLoadOptions): PacedLoad {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const intervalMs = (1000 * options.connections) / options.ratePerSecond;
  const header = options.releaseHeader?.toLowerCase();
  const records: LoadRecord[] = [];
  const startedAt = performance.now();
  let stopped = false;
  let sent = 0;

  const worker = async (k: number) => {
    let due = startedAt + (k * intervalMs) / options.connections;
    for (;;) {
      const wait = due - performance.now();
      if (wait > 0) await delay(wait);
      if (stopped) return;
      const slow =
        options.fastEvery === undefined
          ? sent % options.slowEvery === options.slowEvery - 1
          : sent % options.fastEvery !== options.fastEvery - 1;
      sent += 1;
      const path = slow ? `${options.slowPage}?ms=${options.slowMs}` : '/index.php';
      records.push(await send(path, slow ? options.slowMs : 0));
      due = Math.max(due + intervalMs, performance.now());
    }
  };

  const send = async (path: string, sleepMs: number): Promise<LoadRecord> => {
    const answer = await timedGet(new URL(path, options.url), {
      agent,
      timeoutMs: options.requestTimeoutMs,
    });
    const value = header === undefined ? undefined : answer.headers[header];
    const body = parseBody(answer.body);
    return {
      path,
      sleepMs,
      sentAt: answer.sentAt,
      latencyMs: answer.latencyMs,
      status: answer.status,
      error: answer.error,
      release: body.release,
      header: value === undefined ? null : String(value),
      pid: body.pid,
    };
  };

  const workers = Array.from({ length: options.connections }, (_, k) => worker(k));
  return {
    startedAt,
    async stop() {
      stopped = true;
      await Promise.all(workers);
      agent.destroy();
      return records.sort((a, b) => a.sentAt - b.sentAt);
    },
  };
}

/** The fixture pages answer `{"release": "r1", …, "pid": 123}`; anything else gives nulls. */
function parseBody(text: string): { release: string | null; pid: number | null } {
  try {
    const page = JSON.parse(text) as { release?: unknown; pid?: unknown };
    return {
      release: typeof page.release === 'string' ? page.release : null,
      pid: typeof page.pid === 'number' ? page.pid : null,
    };
  } catch {
    return { release: null, pid: null };
  }
}

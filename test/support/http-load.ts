import {
  Agent,
  type ClientRequest,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  request,
} from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface HttpLoadOptions {
  /** Base URL, e.g. `http://127.0.0.1:8080`; `pathFor` supplies path and query. */
  readonly url: string;
  readonly requests: number;
  /** Requests in flight at once, and the keep-alive agent's socket limit. */
  readonly concurrency: number;
  readonly pathFor: (i: number) => string;
  /** GET unless told. */
  readonly method?: string;
  /** Request body; sent with a Content-Length. */
  readonly bodyFor?: (i: number) => Buffer | undefined;
  /** Request headers (a Cookie, say); none unless told. */
  readonly headersFor?: (i: number) => OutgoingHttpHeaders | undefined;
  /** Bound on the whole run: requests still open or not yet sent then are failed with an error. */
  readonly timeoutMs: number;
}

export interface HttpLoadResponse {
  readonly i: number;
  /** null when no response head arrived. */
  readonly status: number | null;
  readonly body: Buffer;
  readonly headers: IncomingHttpHeaders;
  /** Why the request failed (network error, cut-off body, overall timeout); null when whole. */
  readonly error: string | null;
  /** Wall-clock epoch milliseconds, sub-millisecond precision, when the request was sent. */
  readonly startedAt: number;
  /** From send to the end of the body (or to the error). */
  readonly latencyMs: number;
  /** Which client socket carried it, numbered from 0 in order of first use; -1 for none. */
  readonly connection: number;
}

export interface LoadResult {
  /** Exactly `requests` entries, entry i for request i. */
  readonly responses: readonly HttpLoadResponse[];
  readonly durationMs: number;
}

export interface LoadSummary {
  /** Whole responses with a status below 400. */
  readonly ok: number;
  readonly failed: number;
  /** Count per status code; `error` for requests that got no status. */
  readonly byStatus: Record<string, number>;
  /** Latencies in ms over the requests that completed without error. */
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** `ok` responses per second over the whole run. */
  readonly throughput: number;
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Sends `requests` HTTP/1.1 requests over at most `concurrency` keep-alive connections, each
 * worker taking the next index as soon as its previous request ends. Never throws for a failed
 * request: every one is accounted for in its entry.
 */
export async function runHttpLoad(options: HttpLoadOptions): Promise<LoadResult> {
  const { requests, concurrency, timeoutMs } = options;
  const base = new URL(options.url);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const socketIds = new WeakMap<Socket, number>();
  let sockets = 0;
  const inFlight = new Set<ClientRequest>();
  const timeout = `overall timeout of ${timeoutMs}ms passed`;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    for (const req of inFlight) req.destroy(new Error(timeout));
  }, timeoutMs);
  const responses = new Array<HttpLoadResponse>(requests);
  const started = now();
  let next = 0;

  const sendOne = (i: number): Promise<HttpLoadResponse> =>
    new Promise((resolve) => {
      const startedAt = now();
      const body = options.bodyFor?.(i);
      const chunks: Buffer[] = [];
      let status: number | null = null;
      let headers: IncomingHttpHeaders = {};
      let connection = -1;
      let done = false;
      const finish = (error: string | null) => {
        if (done) return;
        done = true;
        inFlight.delete(req);
        resolve({
          i,
          status,
          body: Buffer.concat(chunks),
          headers,
          // A request cut by the overall bound reports the bound, not the reset it causes.
          error: error !== null && timedOut ? timeout : error,
          startedAt,
          latencyMs: now() - startedAt,
          connection,
        });
      };
      const req = request(
        new URL(options.pathFor(i), base),
        {
          agent,
          method: options.method ?? 'GET',
          headers: {
            ...options.headersFor?.(i),
            ...(body === undefined ? {} : { 'content-length': body.length }),
          },
        },
        (res) => {
          status = res.statusCode ?? null;
          headers = res.headers;
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => finish(res.complete ? null : 'response body cut off'));
          res.on('error', (error) => finish(describe(error)));
        },
      );
      req.on('socket', (socket) => {
        let id = socketIds.get(socket);
        if (id === undefined) {
          id = sockets;
          sockets += 1;
          socketIds.set(socket, id);
        }
        connection = id;
      });
      req.on('error', (error) => finish(describe(error)));
      // After a whole response `finish` has already run; this catches a connection cut first.
      req.on('close', () =>
        finish(status === null ? 'closed without a response' : 'closed before the body ended'),
      );
      inFlight.add(req);
      req.end(body);
    });

  const worker = async () => {
    while (next < requests && !timedOut) {
      const i = next;
      next += 1;
      responses[i] = await sendOne(i);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, requests) }, worker));
  } finally {
    clearTimeout(timer);
    agent.destroy();
  }
  for (let i = 0; i < requests; i += 1) {
    responses[i] ??= {
      i,
      status: null,
      body: Buffer.alloc(0),
      headers: {},
      error: `not sent: ${timeout}`,
      startedAt: started,
      latencyMs: 0,
      connection: -1,
    };
  }
  return { responses, durationMs: now() - started };
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === undefined ? error.message : `${code}: ${error.message}`;
  }
  return String(error);
}

/** Counts and latency percentiles (nearest rank) of a run. */
export function summarise(result: LoadResult): LoadSummary {
  const byStatus: Record<string, number> = {};
  const latencies: number[] = [];
  let ok = 0;
  for (const response of result.responses) {
    const key = response.status === null ? 'error' : String(response.status);
    byStatus[key] = (byStatus[key] ?? 0) + 1;
    if (response.error !== null) continue;
    latencies.push(response.latencyMs);
    if (response.status !== null && response.status < 400) ok += 1;
  }
  latencies.sort((a, b) => a - b);
  const rank = (p: number) => latencies[Math.max(0, Math.ceil(p * latencies.length) - 1)] ?? 0;
  return {
    ok,
    failed: result.responses.length - ok,
    byStatus,
    p50: rank(0.5),
    p99: rank(0.99),
    max: latencies.at(-1) ?? 0,
    throughput: result.durationMs > 0 ? ok / (result.durationMs / 1000) : 0,
  };
}

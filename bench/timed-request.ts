import { type Agent, type IncomingHttpHeaders, type OutgoingHttpHeaders, request } from 'node:http';
import { performance } from 'node:perf_hooks';

/** One GET as a load generator sees it: when it left, how long it took, what came back. */
export interface TimedResponse {
  /** performance.now() when the request was sent. */
  readonly sentAt: number;
  /** From send to the end of the body, or to the error. */
  readonly latencyMs: number;
  /** null when no response head arrived. */
  readonly status: number | null;
  /** Why it failed (network error, cut-off body, timeout); null when whole. */
  readonly error: string | null;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface TimedRequestOptions {
  readonly agent: Agent;
  readonly headers?: OutgoingHttpHeaders;
  /** A request with no whole answer within this fails with a timeout. */
  readonly timeoutMs: number;
}

/**
 * Sends one GET and resolves with its timing and answer; never rejects, so a load generator
 * accounts for every request it sent, failures included.
 */
export function timedGet(url: URL, options: TimedRequestOptions): Promise<TimedResponse> {
  return new Promise((resolve) => {
    const sentAt = performance.now();
    const chunks: Buffer[] = [];
    let status: number | null = null;
    let headers: IncomingHttpHeaders = {};
    let done = false;
    const finish = (error: string | null) => {
      if (done) return;
      done = true;
      resolve({
        sentAt,
        latencyMs: performance.now() - sentAt,
        status,
        error,
        headers,
        body: Buffer.concat(chunks).toString(),
      });
    };
    const req = request(
      url,
      {
        agent: options.agent,
        ...(options.headers === undefined ? {} : { headers: options.headers }),
      },
      (res) => {
        status = res.statusCode ?? null;
        headers = res.headers;
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => finish(res.complete ? null : 'response body cut off'));
        res.on('error', (error) => finish(describe(error)));
      },
    );
    req.setTimeout(options.timeoutMs, () =>
      req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)),
    );
    req.on('error', (error) => finish(describe(error)));
    // After a whole response `finish` has already run; this catches a connection cut first.
    req.on('close', () =>
      finish(status === null ? 'closed without a response' : 'closed before the body ended'),
    );
    req.end();
  });
}

function describe(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  return code === undefined ? error.message : `${code}: ${error.message}`;
}

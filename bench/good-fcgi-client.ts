import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import type { NameValuePair } from '../src/protocol/name-value-pairs.js';
import { type FcgiResponse, FcgiTestConnection } from '../test/support/fcgi-exchange.js';

export interface GoodClientFailure {
  /** Seconds after the client started. */
  readonly atSeconds: number;
  readonly error: string;
}

export interface GoodClientResult {
  readonly requests: number;
  readonly failed: number;
  /** The first 100 failures. */
  readonly failures: readonly GoodClientFailure[];
  /** Latencies (ms) of the right answers. */
  readonly latencies: readonly number[];
}

export interface GoodClientOptions {
  readonly socket: string;
  readonly params: readonly NameValuePair[];
  /** Null when the answer is right, else what is wrong with it. */
  readonly check: (response: FcgiResponse) => string | null;
  /** One kept-alive connection (as nginx with fastcgi_keep_conn), or a new one each request. */
  readonly keepAlive: boolean;
  /** Pause between an answer and the next request. */
  readonly pauseMs: number;
  /** No whole answer within this is a failure (and the connection is dropped). */
  readonly timeoutMs: number;
}

/**
 * A well-behaved FastCGI client that keeps asking while something else attacks the daemon:
 * every request must get the right answer. Stops when told, after its request in flight.
 */
export function startGoodClient(options: GoodClientOptions): {
  stop(): Promise<GoodClientResult>;
} {
  const started = performance.now();
  const latencies: number[] = [];
  const failures: GoodClientFailure[] = [];
  let requests = 0;
  let failed = 0;
  let stopped = false;

  const loop = async () => {
    let connection: FcgiTestConnection | null = null;
    while (!stopped) {
      const sentAt = performance.now();
      let problem: string | null;
      try {
        connection ??= await FcgiTestConnection.open(options.socket);
        problem = options.check(await withTimeout(connection, options));
      } catch (error) {
        problem = (error as Error).message;
      }
      requests += 1;
      if (problem === null) latencies.push(performance.now() - sentAt);
      else {
        failed += 1;
        if (failures.length < 100) {
          failures.push({ atSeconds: (sentAt - started) / 1000, error: problem });
        }
      }
      if (problem !== null || !options.keepAlive) {
        connection?.close();
        connection = null;
      }
      await delay(options.pauseMs);
    }
    connection?.close();
  };
  const running = loop();
  return {
    async stop() {
      stopped = true;
      await running;
      return { requests, failed, failures, latencies };
    },
  };
}

/** The request, or a rejection once `timeoutMs` passed (the connection is closed then). */
async function withTimeout(
  connection: FcgiTestConnection,
  options: GoodClientOptions,
): Promise<FcgiResponse> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      connection.close();
      reject(new Error(`no answer within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
  });
  try {
    return await Promise.race([connection.request({ params: options.params }), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

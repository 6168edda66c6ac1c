import type { OutgoingHttpHeaders } from 'node:http';
import { type HttpLoadResponse, runHttpLoad } from './http-load.js';

export interface DeployLoadOptions {
  readonly url: string;
  /** Header carrying the serving release's directory name (`[response] release_header`). */
  readonly releaseHeader: string;
  readonly concurrency: number;
  /** Path (and method/body) of request i: mixes fast, slow and upload requests. */
  readonly pathFor: (i: number) => string;
  readonly bodyFor?: (i: number) => Buffer | undefined;
  readonly headersFor?: (i: number) => OutgoingHttpHeaders | undefined;
  readonly method?: (i: number) => string;
}

export interface DeployLoad {
  /** Stops sending new batches and resolves with every response of every batch. */
  stop(): Promise<HttpLoadResponse[][]>;
}

/**
 * Keeps load running in batches of keep-alive connections until stopped. Batches, not one
 * endless run, so a test can stop at a condition; each batch has its own connections.
 */
export function startDeployLoad(options: DeployLoadOptions): DeployLoad {
  let stopped = false;
  const batches: HttpLoadResponse[][] = [];
  const loop = (async () => {
    while (!stopped) {
      const result = await runHttpLoad({
        url: options.url,
        requests: options.concurrency * 8,
        concurrency: options.concurrency,
        pathFor: options.pathFor,
        ...(options.bodyFor === undefined ? {} : { bodyFor: options.bodyFor }),
        ...(options.headersFor === undefined ? {} : { headersFor: options.headersFor }),
        timeoutMs: 60_000,
      });
      batches.push([...result.responses]);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return batches;
    },
  };
}

/**
 * The PHP test app's pages as a site under load sees them: fast pages, 1–2 s sleeps and
 * 256 KiB uploads, 8 at a time.
 */
export function startMixedPhpLoad(url: string, releaseHeader: string): DeployLoad {
  const upload = Buffer.alloc(256 * 1024, 7);
  return startDeployLoad({
    url,
    releaseHeader,
    concurrency: 8,
    pathFor: (i) =>
      i % 10 === 0
        ? `/sleep.php?ms=${1000 + (i % 3) * 500}`
        : i % 10 === 5
          ? '/upload.php'
          : '/index.php',
    bodyFor: (i) => (i % 10 === 5 ? upload : undefined),
  });
}

/** Responses that are not a whole 2xx answer, described for an assertion message. */
export function failures(batches: readonly HttpLoadResponse[][]): string[] {
  return batches
    .flat()
    .filter(
      (response) =>
        response.error !== null || (response.status ?? 0) < 200 || (response.status ?? 0) > 299,
    )
    .map(
      (response) =>
        `#${response.i} ${response.status ?? 'no status'} ${response.error ?? response.body.toString().slice(0, 200)}`,
    );
}

/**
 * Per client connection, in the order requests were sent (one at a time on a keep-alive
 * connection), the release index must never go down: once a connection saw release N, a
 * later request must not be answered by an older one. `order` maps a release name to its
 * position in the deploy sequence.
 */
export function backwardSteps(
  batches: readonly HttpLoadResponse[][],
  header: string,
  order: (release: string) => number,
): string[] {
  const problems: string[] = [];
  batches.forEach((responses, batch) => {
    const byConnection = new Map<number, HttpLoadResponse[]>();
    for (const response of responses) {
      if (response.connection < 0) continue;
      const list = byConnection.get(response.connection) ?? [];
      list.push(response);
      byConnection.set(response.connection, list);
    }
    for (const [connection, list] of byConnection) {
      list.sort((a, b) => a.startedAt - b.startedAt);
      let highest = -1;
      let highestName = '';
      for (const response of list) {
        const name = String(response.headers[header.toLowerCase()] ?? '');
        const index = order(name);
        if (index < highest) {
          problems.push(
            `batch ${batch} connection ${connection}: ${name} after ${highestName} (request #${response.i})`,
          );
        }
        if (index > highest) {
          highest = index;
          highestName = name;
        }
      }
    }
  });
  return problems;
}

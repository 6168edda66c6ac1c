import { runHttpLoad } from '../test/support/http-load.js';

/**
 * `requests` GETs over 4 keep-alive connections, cycling through `pages`, before anything is
 * measured: opcache is warm and the daemon's JIT has settled. Every one must succeed.
 */
export async function warmUp(
  url: string,
  pages: readonly string[],
  requests: number,
): Promise<void> {
  const result = await runHttpLoad({
    url,
    requests,
    concurrency: 4,
    pathFor: (i) => pages[i % pages.length] as string,
    timeoutMs: 60_000,
  });
  const failed = result.responses.find(
    (response) => response.error !== null || response.status !== 200,
  );
  if (failed !== undefined) {
    throw new Error(`warm-up request #${failed.i} failed: ${failed.error ?? failed.status}`);
  }
}

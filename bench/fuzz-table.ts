import { formatMs } from './format-ms.js';
import type { GoodClientResult } from './good-fcgi-client.js';
import { percentile } from './percentile.js';
import type { ProbeTally } from './probe-tally.js';

/** The whole fuzz run in one row: how many, how fast, how they ended. */
export function fuzzSummaryTable(all: ProbeTally, durationMs: number): string {
  const share = (n: number) => `${n} (${((100 * n) / Math.max(1, all.connections)).toFixed(1)} %)`;
  return [
    '| connections | duration | connections/s | closed by the daemon | all requests answered | closed by the client | connect failed |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    `| ${all.connections} | ${(durationMs / 1000).toFixed(0)} s | ${((1000 * all.connections) / durationMs).toFixed(0)} | ${share(all.ends['server closed'])} | ${share(all.ends.answered)} | ${share(all.ends['client closed'])} | ${share(all.ends['connect failed'])} |`,
  ].join('\n');
}

/** The good clients: every request they sent, the ones that failed, and their latency. */
export function goodClientTable(
  names: readonly string[],
  results: readonly GoodClientResult[],
): string {
  const rows = results.map((result, k) => {
    const l = result.latencies;
    return `| ${names[k] ?? k} | ${result.requests} | ${result.failed} | ${formatMs(percentile(l, 0.5))} | ${formatMs(percentile(l, 0.99))} | ${formatMs(percentile(l, 1))} |`;
  });
  // The first few of each client: a failure that repeats says so in its count.
  const failures = results.flatMap((result, k) => [
    ...result.failures
      .slice(0, 10)
      .map((f) => `- ${names[k] ?? k}, t+${f.atSeconds.toFixed(1)} s: ${f.error}`),
    ...(result.failed > 10 ? [`- ${names[k] ?? k}: ${result.failed - 10} more`] : []),
  ]);
  return [
    '| good client | requests | failed | p50 | p99 | max |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    ...(failures.length === 0 ? [] : ['', ...failures]),
  ].join('\n');
}

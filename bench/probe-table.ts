import { formatMs } from './format-ms.js';
import { percentile } from './percentile.js';
import type { ProbeTally } from './probe-tally.js';

/** How the connections of each group (a malformed kind, a fuzz shape) ended, a row each. */
export function probeTable(
  title: string,
  groups: ReadonlyArray<readonly [name: string, tally: ProbeTally]>,
): string {
  const rows = groups
    .filter(([, tally]) => tally.connections > 0)
    .map(([name, tally]) => {
      const closed = tally.closeMs;
      return `| ${name} | ${tally.connections} | ${tally.ends['server closed']} | ${tally.ends.answered} | ${tally.ends['client closed']} | ${tally.ends['connect failed']} | ${closed.length === 0 ? '–' : `${formatMs(percentile(closed, 0.5))} / ${formatMs(percentile(closed, 1))}`} | ${histogram(tally.statuses) || '–'} |`;
    });
  return [
    `| ${title} | connections | closed by the daemon | all requests answered | closed by the client (its time over) | connect failed | time to the daemon's close, median / max | answer statuses |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...rows,
  ].join('\n');
}

/** `200 ×31, 404 ×2`: a count per key, in key order. */
export function histogram<K extends string | number>(counts: ReadonlyMap<K, number>): string {
  return [...counts]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, n]) => `${key} ×${n}`)
    .join(', ');
}

import { isFailure } from './deploy-metrics.js';
import { formatMs } from './format-ms.js';
import { median } from './median.js';
import type { LoadRecord } from './paced-load.js';
import { percentile } from './percentile.js';
import type { Operation, StallRun } from './surge-stall.js';

/** How much longer than its own sleep a request took. */
const stall = (record: LoadRecord) => record.latencyMs - record.sleepMs;

/** Requests sent while the command ran: those that meet the reduced capacity, if any. */
const inWindow = (run: StallRun) =>
  run.records.filter((record) => record.sentAt >= run.t0 && record.sentAt <= run.doneAt);

/** Requests sent before the command, once the load had filled every worker (its first second). */
const beforeWindow = (run: StallRun) =>
  run.records.filter((record) => record.sentAt >= run.loadStart + 1000 && record.sentAt < run.t0);

/** One row per setup and operation: its runs pooled. */
export function surgeTable(
  setups: readonly string[],
  operations: readonly Operation[],
  runs: readonly StallRun[],
): string {
  const rows = operations.flatMap((operation) =>
    setups.map((setup) => {
      const mine = runs.filter((run) => run.setup === setup && run.operation === operation);
      const window = mine.flatMap(inWindow).map(stall);
      const before = mine.flatMap(beforeWindow).map(stall);
      const longestPerRun = mine.map((run) => Math.max(0, ...inWindow(run).map(stall)));
      const failed = mine.flatMap((run) => run.records).filter(isFailure).length;
      const durations = mine.map((run) => run.doneAt - run.t0);
      return `| ${operation} | ${setup} | ${mine.length} | ${formatMs(Math.max(0, ...longestPerRun))} | ${longestPerRun.map(formatMs).join(', ')} | ${formatMs(percentile(window, 0.99))} (${window.length} req) | ${formatMs(Math.max(0, ...before))} / ${formatMs(percentile(before, 0.99))} | ${failed} | ${formatMs(median(durations))} |`;
    }),
  );
  return [
    '| operation | setup | runs | longest stall while it ran | longest stall of each run | p99 stall while it ran | before it: longest / p99 stall | failed | command time (median) |',
    '| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}

/** Each setup's first line of each operation: what the daemon said it chose. */
export function surgeDecisions(runs: readonly StallRun[]): string[] {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const run of runs) {
    const key = `${run.setup} ${run.operation}`;
    if (seen.has(key)) continue;
    seen.add(key);
    lines.push(`- ${run.setup}, ${run.operation}: \`${run.firstLine}\``);
  }
  return lines;
}

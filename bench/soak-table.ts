import { formatMs } from './format-ms.js';
import { percentile } from './percentile.js';
import { CHAOS_KINDS, type ChaosKind, type ChaosOp } from './soak-chaos.js';
import type { SoakLoadResult } from './soak-load.js';

/** The load's totals: requests, failures, rate and latency. */
export function loadTable(load: SoakLoadResult, slowMs: number): string {
  const seconds = load.durationMs / 1000;
  const releases = Object.entries(load.byRelease)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([release, count]) => `${release} ${count}`)
    .join(', ');
  const fast = load.fastLatencies;
  const slow = load.slowLatencies;
  return [
    `| requests | failed | duration | requests/s | fast p50 | fast p99 | fast max | ${slowMs} ms page p50 / p99 / max | answers by release (index.php, wait.php) |`,
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    `| ${load.requests} | ${load.failed} | ${seconds.toFixed(0)} s | ${(load.requests / seconds).toFixed(0)} | ${formatMs(percentile(fast, 0.5))} | ${formatMs(percentile(fast, 0.99))} | ${formatMs(maxOf(fast))} | ${formatMs(percentile(slow, 0.5))} / ${formatMs(percentile(slow, 0.99))} / ${formatMs(maxOf(slow))} | ${releases} |`,
  ].join('\n');
}

/** Every failure kept, one line each (the first 1000; the total is in the load table). */
export function failureList(load: SoakLoadResult): string {
  if (load.failed === 0) return 'No request failed.';
  return load.failures
    .map(
      (f) =>
        `- t+${f.atSeconds.toFixed(1)} s ${f.path}: ${f.status ?? 'no status'}${f.error === null ? '' : `, ${f.error}`}${f.problem === null ? '' : `, ${f.problem}`}; body ${JSON.stringify(f.bodyStart.slice(0, 120))}`,
    )
    .join('\n');
}

/** Deploys, restarts and kills: planned, done, failed, how long each took. */
export function opsTable(plan: readonly ChaosKind[], ops: readonly ChaosOp[]): string {
  const rows = CHAOS_KINDS.map((kind) => {
    const done = ops.filter((op) => op.kind === kind);
    const durations = done.map((op) => op.durationMs);
    const failed = done.filter((op) => !op.ok).length;
    return `| ${kind} | ${plan.filter((k) => k === kind).length} | ${done.length} | ${failed} | ${done.length === 0 ? '–' : `${formatMs(percentile(durations, 0.5))} / ${formatMs(Math.max(...durations))}`} |`;
  });
  const failures = ops
    .filter((op) => !op.ok)
    .map((op) => `- ${op.kind} at +${op.atSeconds.toFixed(0)} s: ${op.detail}`);
  return [
    '| operation | planned | done | failed | time until every replica ready, median / max |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...rows,
    ...(failures.length === 0 ? [] : ['', ...failures]),
  ].join('\n');
}

/** Math.max over a million values would overflow the call's arguments. */
function maxOf(values: readonly number[]): number {
  let max = 0;
  for (const value of values) if (value > max) max = value;
  return max;
}

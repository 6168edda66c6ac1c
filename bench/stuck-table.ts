import { formatMs } from './format-ms.js';
import { type StuckMetrics, type StuckRun, stuckMetrics, stuckTimes } from './stuck-metrics.js';

const seconds = (value: number) => `${value.toFixed(1)} s`;

const failures = (count: number, of: number, what: string) =>
  count === 0 ? `0 of ${of}` : `${count} of ${of} (${what})`;

/** `10.2 s → 11.9 s`, `never slow`, `4.1 s → not by the end`. */
function hangCell(run: StuckRun): string {
  const times = stuckTimes(run);
  if (times.slowFromS === null) return 'never slow';
  const fast = times.fastAgainS === null ? 'not by the end' : seconds(times.fastAgainS);
  return `${seconds(times.slowFromS)} → ${fast}`;
}

function actionsCell(run: StuckRun): string {
  const { actions } = stuckTimes(run);
  return actions.length === 0 ? 'none' : actions.join(', ');
}

function sessionCell(run: StuckRun): string {
  const { sessionAgainS } = stuckTimes(run);
  return sessionAgainS === null ? 'not by the end' : seconds(sessionAgainS);
}

function metricCells(m: StuckMetrics): string[] {
  return [
    formatMs(m.plainP50Ms),
    formatMs(m.plainP99Ms),
    formatMs(m.plainMaxMs),
    failures(m.plainFailed, m.plainSent, m.plainFailures),
  ];
}

/** One row per setup, every round together; the timings of each round side by side. */
export function stuckTable(setups: readonly string[], runs: readonly StuckRun[]): string {
  const rows = setups.map((setup) => {
    const mine = runs.filter((run) => run.setup === setup);
    const m = stuckMetrics(mine);
    return `| ${setup} | ${[
      ...metricCells(m),
      mine.map(hangCell).join('; '),
      mine.map(actionsCell).join('; '),
      mine.map(sessionCell).join('; '),
    ].join(' | ')} |`;
  });
  return [
    '| setup | no-session p50 | no-session p99 | no-session max | no-session failed | no-session slow or failing, from → fast again (each round) | restarts, replacements (each round) | stuck user answered again at (each round) |',
    '| --- | ---: | ---: | ---: | ---: | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

/** One row per round and setup, in the order they ran, with the session's side. */
export function stuckRoundsTable(runs: readonly StuckRun[]): string {
  const rows = runs.map((run) => {
    const m = stuckMetrics([run]);
    return `| ${run.round} | ${run.setup} | ${[
      ...metricCells(m),
      hangCell(run),
      actionsCell(run),
      sessionCell(run),
      m.sessionOutcomes,
      m.holderOutcomes,
    ].join(' | ')} |`;
  });
  return [
    "| round | setup | no-session p50 | no-session p99 | no-session max | no-session failed | slow from → fast again | restarts, replacements | stuck user answered again at | stuck user's requests after the hang | the hanging request |",
    '| ---: | --- | ---: | ---: | ---: | ---: | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

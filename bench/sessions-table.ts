import {
  type AjaxMetrics,
  ajaxMetrics,
  type GlobalSessionMetrics,
  globalSessionMetrics,
  type SessionsRun,
} from './sessions-metrics.js';

const ms = (value: number) =>
  value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(value >= 100 ? 0 : 1)} ms`;

const failures = (count: number, of: number, what: string) =>
  count === 0 ? `0 of ${of}` : `${count} of ${of} (${what})`;

/** The global-session scenario, one row per setup, every round together. */
export function globalSessionTable(
  setups: readonly string[],
  runs: readonly SessionsRun[],
): string {
  const rows = setups.map((setup) => {
    const m = globalSessionMetrics(runs.filter((run) => run.setup === setup));
    return `| ${setup} | ${globalCells(m).join(' | ')} |`;
  });
  return [
    '| setup | no-session p50 | no-session p99 | no-session max | no-session failed | session answers/s | session answers | session p50 | session requests in PHP, mean / peak |',
    '| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |',
    ...rows,
  ].join('\n');
}

/** The same, one row per round and setup, in the order they ran. */
export function globalSessionRoundsTable(runs: readonly SessionsRun[]): string {
  const rows = runs.map((run) => {
    const m = globalSessionMetrics([run]);
    return `| ${run.round} | ${run.setup} | ${globalCells(m).join(' | ')} |`;
  });
  return [
    '| round | setup | no-session p50 | no-session p99 | no-session max | no-session failed | session answers/s | session answers | session p50 | session requests in PHP, mean / peak |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |',
    ...rows,
  ].join('\n');
}

function globalCells(m: GlobalSessionMetrics): string[] {
  return [
    ms(m.plainP50Ms),
    ms(m.plainP99Ms),
    ms(m.plainMaxMs),
    failures(m.plainFailed, m.plainSent, m.plainFailures),
    m.sessionPerSecond.toFixed(2),
    m.sessionStatuses,
    ms(m.sessionP50Ms),
    `${m.sessionWorkersMean.toFixed(2)} / ${m.sessionWorkersPeak}`,
  ];
}

/** The three-AJAX scenario, one row per setup, every repeat together. */
export function ajaxTable(setups: readonly string[], runs: readonly SessionsRun[]): string {
  const rows = setups.map((setup) => {
    const m: AjaxMetrics = ajaxMetrics(runs.filter((run) => run.setup === setup));
    return `| ${setup} | ${[
      String(m.repeats),
      m.sessionDoneMs.map(ms).join(' / '),
      ms(m.sessionSlowestMs),
      String(m.sessionFailed),
      `${m.sessionWorkerSeconds.toFixed(2)} s`,
      ms(m.othersP50Ms),
      ms(m.othersP99Ms),
      ms(m.othersMaxMs),
      failures(m.othersFailed, m.othersSent, m.othersFailures),
    ].join(' | ')} |`;
  });
  return [
    '| setup | repeats | session answers, 1st / 2nd / 3rd (median) | slowest session answer | session failed | time the 3 spent in PHP (median) | others p50 | others p99 | others max | others failed |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}

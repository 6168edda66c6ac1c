import type { LoadRecord } from './paced-load.js';
import { percentile } from './percentile.js';

/** One run of the deploy benchmark: the load's records and the moments of the switch. */
export interface DeployRun {
  readonly name: string;
  readonly records: readonly LoadRecord[];
  /** performance.now() of the load's start, of the operator's action (t0), of its end. */
  readonly loadStart: number;
  readonly t0: number;
  /** When the switch was done (php-fpm: the reloaded master's first answer; switchyard: the command exited). */
  readonly switchEnd: number;
  /** switchyard's cut-over (its `cut-over:` progress line arrived), if any. */
  readonly cutOver?: number;
  /** The deploy's duration as the daemon reported it, if any. */
  readonly reportedMs?: number;
  readonly oldRelease: string;
  readonly newRelease: string;
  /** Record the release header too and compare it with the page's own release. */
  readonly checkHeader: boolean;
}

export interface DeployMetrics {
  readonly sent: number;
  readonly failed: number;
  /** `502 ×3, ECONNRESET ×1`: what the failures were. */
  readonly failureKinds: string;
  /** Max over requests of latency minus the page's own sleep, and when that request was sent. */
  readonly longestStallMs: number;
  readonly longestStallSentS: number;
  readonly longestStallBeforeMs: number;
  readonly longestStallSwitchMs: number;
  readonly p99FastBeforeMs: number;
  readonly p99FastSwitchMs: number;
  readonly switchRequests: number;
  /** The same window for both runs: requests sent in the 3 s from t0. */
  readonly p99FastAfterMs: number;
  /** Seconds after t0. */
  readonly switchEndS: number;
  readonly cutOverS: number | null;
  readonly reportedMs: number | null;
  readonly firstNewS: number | null;
  readonly lastOldS: number | null;
  /** Completion of the last old-release answer to a request sent after t0. */
  readonly lastOldSentAfterT0S: number | null;
  readonly oldSentAfterT0: number;
  /** Old-release answers to requests sent once the switch was done. */
  readonly oldAfterSwitchEnd: number;
  /** Answers whose release header names another release than the page: null when unchecked. */
  readonly headerMismatches: number | null;
}

/** An error, no status, or a status outside 2xx. */
export const isFailure = (record: Pick<LoadRecord, 'error' | 'status'>): boolean =>
  record.error !== null || record.status === null || record.status < 200 || record.status > 299;

const completedAt = (record: LoadRecord): number => record.sentAt + record.latencyMs;

export function deployMetrics(run: DeployRun): DeployMetrics {
  const { records, t0, switchEnd } = run;
  const seconds = (at: number) => (at - t0) / 1000;
  const failures = records.filter(isFailure);
  const kinds = new Map<string, number>();
  for (const record of failures) {
    const kind = record.error?.split(':')[0] ?? String(record.status);
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  const stall = (record: LoadRecord) => record.latencyMs - record.sleepMs;
  let longest: LoadRecord | undefined;
  for (const record of records)
    if (longest === undefined || stall(record) > stall(longest)) longest = record;
  const before = records.filter((record) => record.sentAt < t0);
  const fast = (list: readonly LoadRecord[]) =>
    list.filter((record) => record.sleepMs === 0).map((record) => record.latencyMs);
  const inSwitch = records.filter((record) => record.sentAt >= t0 && record.sentAt <= switchEnd);
  const ok = records.filter((record) => !isFailure(record));
  const answeredBy = (release: string) => ok.filter((record) => record.release === release);
  const oldAnswers = answeredBy(run.oldRelease);
  const newAnswers = answeredBy(run.newRelease);
  const oldAfterT0 = oldAnswers.filter((record) => record.sentAt >= t0);
  const latest = (list: readonly LoadRecord[]) =>
    list.length === 0 ? null : seconds(Math.max(...list.map(completedAt)));
  return {
    sent: records.length,
    failed: failures.length,
    failureKinds: [...kinds].map(([kind, count]) => `${kind} ×${count}`).join(', '),
    longestStallMs: longest === undefined ? 0 : stall(longest),
    longestStallSentS: longest === undefined ? 0 : seconds(longest.sentAt),
    longestStallBeforeMs: Math.max(0, ...before.map(stall)),
    longestStallSwitchMs: Math.max(0, ...inSwitch.map(stall)),
    p99FastBeforeMs: percentile(fast(before), 0.99),
    p99FastSwitchMs: percentile(fast(inSwitch), 0.99),
    switchRequests: inSwitch.length,
    p99FastAfterMs: percentile(
      fast(records.filter((record) => record.sentAt >= t0 && record.sentAt < t0 + 3000)),
      0.99,
    ),
    switchEndS: seconds(switchEnd),
    cutOverS: run.cutOver === undefined ? null : seconds(run.cutOver),
    reportedMs: run.reportedMs ?? null,
    firstNewS: newAnswers.length === 0 ? null : seconds(Math.min(...newAnswers.map(completedAt))),
    lastOldS: latest(oldAnswers),
    lastOldSentAfterT0S: latest(oldAfterT0),
    oldSentAfterT0: oldAfterT0.length,
    oldAfterSwitchEnd: oldAnswers.filter((record) => record.sentAt > switchEnd).length,
    headerMismatches: run.checkHeader
      ? ok.filter((record) => record.header !== record.release).length
      : null,
  };
}

const ms = (value: number) => `${value.toFixed(value >= 100 ? 0 : 1)} ms`;
const s = (value: number | null) => (value === null ? '–' : `${value.toFixed(2)} s`);

/** The runs side by side, one row per measure. */
export function deployTable(runs: readonly DeployRun[]): string {
  const metrics = runs.map(deployMetrics);
  const row = (label: string, cell: (m: DeployMetrics) => string) =>
    `| ${label} | ${metrics.map(cell).join(' | ')} |`;
  return [
    `| measure | ${runs.map((run) => run.name).join(' | ')} |`,
    `| --- | ${runs.map(() => '---:').join(' | ')} |`,
    row('requests sent', (m) => String(m.sent)),
    row('failed (errors + non-2xx)', (m) =>
      m.failed === 0 ? '0' : `${m.failed} (${m.failureKinds})`,
    ),
    row(
      'longest stall (latency − own sleep)',
      (m) =>
        `${ms(m.longestStallMs)} (sent at t0 ${m.longestStallSentS >= 0 ? '+' : '−'} ${Math.abs(m.longestStallSentS).toFixed(2)} s)`,
    ),
    row('longest stall before t0', (m) => ms(m.longestStallBeforeMs)),
    row('longest stall, switch window (t0 … switch done)', (m) => ms(m.longestStallSwitchMs)),
    row('p99 fast page, before t0', (m) => ms(m.p99FastBeforeMs)),
    row(
      'p99 fast page, switch window (t0 … switch done)',
      (m) => `${ms(m.p99FastSwitchMs)} (${m.switchRequests} req)`,
    ),
    row('p99 fast page, t0 … t0 + 3 s', (m) => ms(m.p99FastAfterMs)),
    row('switch done (reloaded master answers / deploy command exits)', (m) => s(m.switchEndS)),
    row('deploy duration reported by switchyard', (m) =>
      m.reportedMs === null ? '–' : `${(m.reportedMs / 1000).toFixed(1)} s`,
    ),
    row('cut-over (new requests to r2)', (m) => s(m.cutOverS)),
    row('first r2 answer', (m) => s(m.firstNewS)),
    row('last r1 answer', (m) => s(m.lastOldS)),
    row('last r1 answer to a request sent after t0', (m) =>
      m.oldSentAfterT0 === 0 ? 'none' : `${s(m.lastOldSentAfterT0S)} (${m.oldSentAfterT0} req)`,
    ),
    row('r1 answers to requests sent after the switch was done', (m) =>
      String(m.oldAfterSwitchEnd),
    ),
    row('release header ≠ page release', (m) =>
      m.headerMismatches === null ? '–' : String(m.headerMismatches),
    ),
  ].join('\n');
}

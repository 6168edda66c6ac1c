import { isFailure } from './deploy-metrics.js';
import { percentile } from './percentile.js';
import type { SessionLoadRecord, SessionLoadRun } from './session-load.js';

/** One scenario's load on one setup in one round. */
export interface SessionsRun extends SessionLoadRun {
  readonly setup: string;
  readonly round: number;
}

/** What the global-session scenario shows of one setup, over all its rounds. */
export interface GlobalSessionMetrics {
  readonly plainSent: number;
  readonly plainP50Ms: number;
  readonly plainP99Ms: number;
  readonly plainMaxMs: number;
  readonly plainFailed: number;
  /** `503 ×12, ECONNRESET ×1`: what the no-session page's failures were; '' for none. */
  readonly plainFailures: string;
  /** Whole 2xx session answers per second, from the load's start to its last session answer. */
  readonly sessionPerSecond: number;
  /** Every session answer by status (or error kind): `200 ×48, 503 ×3`. */
  readonly sessionStatuses: string;
  readonly sessionP50Ms: number;
  readonly sessionMaxMs: number;
  /** Workers the session's requests held on average (their time in PHP per second of load). */
  readonly sessionWorkersMean: number;
  /** The most session requests that were in PHP at one moment. */
  readonly sessionWorkersPeak: number;
}

/** The three-AJAX scenario on one setup, over all its repeats. */
export interface AjaxMetrics {
  readonly repeats: number;
  /** The median over repeats of the first, second and third session answer's latency. */
  readonly sessionDoneMs: readonly number[];
  readonly sessionSlowestMs: number;
  readonly sessionFailed: number;
  /** The median over repeats of the time the session's requests spent in PHP, added up. */
  readonly sessionWorkerSeconds: number;
  readonly othersSent: number;
  readonly othersP50Ms: number;
  readonly othersP99Ms: number;
  readonly othersMaxMs: number;
  readonly othersFailed: number;
  readonly othersFailures: string;
}

export function globalSessionMetrics(runs: readonly SessionsRun[]): GlobalSessionMetrics {
  const records = runs.flatMap((run) => run.records);
  const plain = records.filter((record) => record.page === 'plain');
  const plainLatencies = plain.map((record) => record.latencyMs);
  const session = records.filter((record) => record.page === 'session');
  const sessionOk = session.filter((record) => !isFailure(record));
  let seconds = 0;
  let heldSeconds = 0;
  let peak = 0;
  for (const run of runs) {
    const answers = run.records.filter((record) => record.page === 'session');
    const lastAnswer = Math.max(...answers.map((record) => record.sentAt + record.latencyMs));
    if (Number.isFinite(lastAnswer)) seconds += (lastAnswer - run.startedAt) / 1000;
    heldSeconds += sumHeld(answers);
    peak = Math.max(peak, peakOverlap(answers));
  }
  return {
    plainSent: plain.length,
    plainP50Ms: percentile(plainLatencies, 0.5),
    plainP99Ms: percentile(plainLatencies, 0.99),
    plainMaxMs: Math.max(0, ...plainLatencies),
    plainFailed: plain.filter(isFailure).length,
    plainFailures: kinds(plain.filter(isFailure)),
    sessionPerSecond: seconds > 0 ? sessionOk.length / seconds : 0,
    sessionStatuses: kinds(session),
    sessionP50Ms: percentile(
      sessionOk.map((record) => record.latencyMs),
      0.5,
    ),
    sessionMaxMs: Math.max(0, ...sessionOk.map((record) => record.latencyMs)),
    sessionWorkersMean: seconds > 0 ? heldSeconds / seconds : 0,
    sessionWorkersPeak: peak,
  };
}

export function ajaxMetrics(runs: readonly SessionsRun[]): AjaxMetrics {
  const others = runs.flatMap((run) => run.records.filter((record) => record.page === 'plain'));
  const othersLatencies = others.map((record) => record.latencyMs);
  const sessions = runs.map((run) => run.records.filter((record) => record.page === 'session'));
  const ranks = Math.max(0, ...sessions.map((list) => list.length));
  const sorted = sessions.map((list) =>
    list.map((record) => record.latencyMs).sort((a, b) => a - b),
  );
  return {
    repeats: runs.length,
    sessionDoneMs: Array.from({ length: ranks }, (_, rank) =>
      percentile(
        sorted.map((list) => list[rank] ?? Number.POSITIVE_INFINITY),
        0.5,
      ),
    ),
    sessionSlowestMs: Math.max(0, ...sorted.map((list) => list.at(-1) ?? 0)),
    sessionFailed: sessions.flat().filter(isFailure).length,
    sessionWorkerSeconds: percentile(sessions.map(sumHeld), 0.5),
    othersSent: others.length,
    othersP50Ms: percentile(othersLatencies, 0.5),
    othersP99Ms: percentile(othersLatencies, 0.99),
    othersMaxMs: Math.max(0, ...othersLatencies),
    othersFailed: others.filter(isFailure).length,
    othersFailures: kinds(others.filter(isFailure)),
  };
}

/** Seconds the requests spent in PHP (session.php's own start and end), added up. */
function sumHeld(records: readonly SessionLoadRecord[]): number {
  let total = 0;
  for (const record of records) if (record.ran !== null) total += record.ran.end - record.ran.start;
  return total;
}

/** The most of `records` that were in PHP at one moment (a sweep over starts and ends). */
function peakOverlap(records: readonly SessionLoadRecord[]): number {
  const edges: Array<[number, number]> = [];
  for (const record of records) {
    if (record.ran === null) continue;
    edges.push([record.ran.start, 1], [record.ran.end, -1]);
  }
  // At equal times an end goes first: one request ending as the next starts is not two.
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let peak = 0;
  for (const [, step] of edges) {
    now += step;
    peak = Math.max(peak, now);
  }
  return peak;
}

/** `200 ×48, 503 ×3, ECONNRESET ×1`, most frequent first. */
function kinds(records: readonly SessionLoadRecord[]): string {
  const counts = new Map<string, number>();
  for (const record of records) {
    const kind =
      record.error !== null
        ? (record.error.split(':')[0] ?? record.error)
        : String(record.status ?? 'no status');
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([kind, count]) => `${kind} ×${count}`)
    .join(', ');
}

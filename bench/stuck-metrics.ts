import { isFailure } from './deploy-metrics.js';
import { percentile } from './percentile.js';
import type { StuckLoadRecord, StuckLoadRun } from './stuck-load.js';
import type { StuckAction } from './stuck-setups.js';

/** One setup's run in one round, with what the setup did against the hang. */
export interface StuckRun extends StuckLoadRun {
  readonly setup: string;
  readonly round: number;
  /** What the setup did against the hang, and when. */
  readonly actions: readonly StuckAction[];
}

/** A no-session answer slower than this, or a failure, counts as the site not answering fast. */
export const FAST_MS = 500;
/**
 * A session answer counts as the stuck user's session answering again only for a request sent
 * this long after the holder: one sent just after it may reach PHP's lock before the holder.
 */
export const SESSION_MARGIN_MS = 1000;

/** When, in seconds after the holder was sent, something happened in a run; null: never. */
export interface StuckTimes {
  /** The first no-session request sent after the holder that was slow or failed. */
  readonly slowFromS: number | null;
  /** The first no-session request after the last slow or failed one; null if that was the last. */
  readonly fastAgainS: number | null;
  /** The first answer 200 to the stuck user's session (sent at least SESSION_MARGIN_MS in). */
  readonly sessionAgainS: number | null;
  /** Each restart or replacement, and each stuck replica's stop: `replaced 5.1 s`. */
  readonly actions: readonly string[];
}

export interface StuckMetrics {
  readonly plainSent: number;
  readonly plainP50Ms: number;
  readonly plainP99Ms: number;
  readonly plainMaxMs: number;
  readonly plainFailed: number;
  /** `502 ×12, no answer by the end of the run ×3`: what the failures were; '' for none. */
  readonly plainFailures: string;
  /** The session's requests sent after the holder, by status or error. */
  readonly sessionOutcomes: string;
  /** The holder's own outcome (every round's). */
  readonly holderOutcomes: string;
}

export function stuckMetrics(runs: readonly StuckRun[]): StuckMetrics {
  const records = runs.flatMap((run) => run.records);
  const plain = records.filter((record) => record.page === 'plain');
  const latencies = plain.map((record) => record.latencyMs);
  const sessionAfter = runs.flatMap((run) =>
    run.records.filter((record) => record.page === 'session' && record.sentAt >= run.holderSentAt),
  );
  return {
    plainSent: plain.length,
    plainP50Ms: percentile(latencies, 0.5),
    plainP99Ms: percentile(latencies, 0.99),
    plainMaxMs: Math.max(0, ...latencies),
    plainFailed: plain.filter(isFailure).length,
    plainFailures: kinds(plain.filter(isFailure)),
    sessionOutcomes: kinds(sessionAfter),
    holderOutcomes: kinds(records.filter((record) => record.page === 'holder')),
  };
}

export function stuckTimes(run: StuckRun): StuckTimes {
  const since = (at: number) => (at - run.holderSentAt) / 1000;
  const plain = run.records.filter(
    (record) => record.page === 'plain' && record.sentAt >= run.holderSentAt,
  );
  const slow = (record: StuckLoadRecord) => isFailure(record) || record.latencyMs > FAST_MS;
  const first = plain.findIndex(slow);
  const last = plain.findLastIndex(slow);
  const after = plain[last + 1];
  const sessionAnswers = run.records
    .filter(
      (record) =>
        record.page === 'session' &&
        record.sentAt >= run.holderSentAt + SESSION_MARGIN_MS &&
        !isFailure(record),
    )
    .map((record) => record.sentAt + record.latencyMs);
  return {
    slowFromS: first === -1 ? null : since((plain[first] as StuckLoadRecord).sentAt),
    fastAgainS: first === -1 ? 0 : after === undefined ? null : since(after.sentAt),
    sessionAgainS: sessionAnswers.length === 0 ? null : since(Math.min(...sessionAnswers)),
    actions: run.actions.map((action) => `${action.what} ${since(action.at).toFixed(1)} s`),
  };
}

/** `200 ×48, 503 ×3, no answer by the end of the run ×1`, most frequent first. */
function kinds(records: readonly StuckLoadRecord[]): string {
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

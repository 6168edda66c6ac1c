import { readFileSync } from 'node:fs';

/** pino's numeric levels: what a benchmark reads back from the daemon's JSON log. */
const LEVEL_NAMES: Readonly<Record<number, string>> = { 40: 'warn', 50: 'error', 60: 'fatal' };

export interface LogCount {
  /** `warn ERR_PARAMS_TIMEOUT`, or the level and the message when the line has no code. */
  readonly key: string;
  readonly lines: number;
  /** Occurrences: a rate-limited warning's `count` for each of its lines, 1 for other lines. */
  readonly events: number;
}

/**
 * The warnings and errors of a daemon's JSON log, grouped by code (or message) and most
 * frequent first: after a long run, what the daemon complained about and how often.
 */
export function logSummary(file: string): LogCount[] {
  const counts = new Map<string, { lines: number; events: number }>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    let record: { level?: unknown; code?: unknown; msg?: unknown; count?: unknown };
    try {
      record = JSON.parse(line) as typeof record;
    } catch {
      continue; // stderr text, or a line cut by the daemon's exit
    }
    const level = LEVEL_NAMES[Number(record.level)];
    if (level === undefined) continue;
    const what = typeof record.code === 'string' ? record.code : String(record.msg).slice(0, 100);
    const key = `${level} ${what}`;
    const entry = counts.get(key) ?? { lines: 0, events: 0 };
    entry.lines += 1;
    entry.events += typeof record.count === 'number' ? record.count : 1;
    counts.set(key, entry);
  }
  return [...counts].map(([key, entry]) => ({ key, ...entry })).sort((a, b) => b.events - a.events);
}

/** The daemon's warnings and errors over the run. */
export function logTable(counts: readonly LogCount[]): string {
  if (counts.length === 0) return 'The daemon logged no warning or error.';
  return [
    '| daemon log (warn and above) | lines | occurrences |',
    '| --- | ---: | ---: |',
    ...counts
      .slice(0, 15)
      .map((c) => `| ${c.key.replaceAll('|', '\\|')} | ${c.lines} | ${c.events} |`),
  ].join('\n');
}

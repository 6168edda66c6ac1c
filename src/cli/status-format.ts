import { basename } from 'node:path';
import type {
  DaemonStatus,
  DoneEvent,
  ReplicaProgressEvent,
  ReplicaStatus,
} from '../control/messages.js';

// Pure text for `switchyard status` and `switchyard restart`: no I/O, no clock.

const LONGEST_STATE = 'backing-off'.length;

/**
 * `switchyard status` for a person: the serving release, then one row per replica, then
 * each replica's last error. Release directories show as their basename (`--json` has the
 * full paths).
 */
export function formatStatus(status: DaemonStatus): string {
  const lines = [
    `switchyard ${status.version}  pid ${status.pid}  up ${formatUptime(status.uptimeMs)}  ${status.kind} replicas`,
    `serving  ${status.servingRelease ?? '(no release yet)'}  (${status.symlink})`,
    `queued   ${status.queued}`,
    '',
  ];
  const header = [
    'REPLICA',
    'STATE',
    'PID',
    'RELEASE',
    'IN FLIGHT',
    'SERVED',
    'RESTARTS',
    'UPTIME',
  ];
  const rightAligned = new Set([2, 4, 5, 6, 7]);
  const rows = status.replicas.map((replica) => [
    replica.name,
    replica.state,
    replica.pid === null ? '-' : String(replica.pid),
    releaseName(replica.release),
    String(replica.inFlight),
    String(replica.served),
    String(replica.restarts),
    replica.uptimeMs === null ? '-' : formatUptime(replica.uptimeMs),
  ]);
  if (rows.length === 0) lines.push('no replicas');
  else lines.push(...table([header, ...rows], rightAligned));

  const failures = status.replicas.filter(
    (replica): replica is ReplicaStatus & { lastError: string } => replica.lastError !== null,
  );
  for (const replica of failures) {
    const [first = '', ...rest] = replica.lastError.trimEnd().split('\n');
    lines.push('', `${replica.name} last error: ${first}`, ...rest.map((line) => `  ${line}`));
  }
  return `${lines.join('\n')}\n`;
}

/** One progress line of a restart: `replica-1  draining     pid 1234  41  3 in flight`. */
export function formatProgress(event: ReplicaProgressEvent): string {
  const parts = [
    event.name,
    event.state.padEnd(LONGEST_STATE),
    event.pid === null ? 'no pid' : `pid ${event.pid}`,
  ];
  if (event.release !== null) parts.push(releaseName(event.release));
  if (event.message !== '') parts.push(event.message);
  return parts.join('  ').trimEnd();
}

/** The last line of a restart: `restart done in 12.3s: …` or `restart failed after 3.1s: …`. */
export function formatDone(done: DoneEvent): string {
  const took = formatElapsed(done.durationMs);
  const head = done.ok ? `restart done in ${took}` : `restart failed after ${took}`;
  return done.message === '' ? head : `${head}: ${done.message}`;
}

/** A long-running uptime, two units at most: `0s`, `59s`, `3m12s`, `1h02m`, `2d03h`. */
export function formatUptime(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${pad2(seconds % 60)}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h${pad2(minutes % 60)}m`;
  return `${Math.floor(hours / 24)}d${pad2(hours % 24)}h`;
}

/** How long an operation took: tenths of a second under a minute (`0.4s`, `12.3s`), else uptime style. */
export function formatElapsed(ms: number): string {
  if (ms < 60_000) return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
  return formatUptime(ms);
}

function releaseName(release: string | null): string {
  if (release === null) return '-';
  return basename(release) || release;
}

function pad2(value: number): string {
  return String(value).padStart(2, '0');
}

/** Columns two spaces apart; `rightAligned` holds the indexes of numeric columns. */
function table(rows: readonly (readonly string[])[], rightAligned: ReadonlySet<number>): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, index) => {
      widths[index] = Math.max(widths[index] ?? 0, cell.length);
    });
  }
  return rows.map((row) =>
    row
      .map((cell, index) => {
        const width = widths[index] ?? 0;
        return rightAligned.has(index) ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd(),
  );
}

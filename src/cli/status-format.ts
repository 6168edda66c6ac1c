import { basename, dirname } from 'node:path';
import type {
  DaemonStatus,
  DeployRecord,
  DoneEvent,
  ProgressEvent,
  ReplicaProgressEvent,
  ReplicaStatus,
  SessionsStatus,
  StuckRequestStatus,
} from '../control/messages.js';
import type { SurgeStatus } from '../supervisor/surge-chooser.js';
import { escapeControlsByLine, escapeControls as shown } from './escape-controls.js';

// Pure text for `switchyard status`, `restart`, `deploy` and `rollback`: no I/O, no clock
// (the caller passes the time when it wants "3m ago"). Whatever comes from the file system or
// a worker (release paths, messages, worker output) goes through `shown`, which escapes
// control characters: a release directory named with an escape sequence must not drive the
// terminal. Cells are escaped before the table measures them, so columns stay aligned.

/** The operations that stream progress, as the CLI names them. */
export type Operation = 'restart' | 'deploy' | 'rollback';

/** The cut-over line of a deploy or rollback. */
export type ToggleProgressEvent = Extract<ProgressEvent, { kind: 'toggle' }>;

const LONGEST_STATE = 'backing-off'.length;

/** Under a day, a deploy's time shows as its age ("3m12s ago"); older ones as the ISO time. */
const RELATIVE_WHEN_MS = 86_400_000;

/**
 * `switchyard status` for a person: the serving release, the last deploy and where a
 * rollback would go, then one row per replica, then each replica's last error. Release
 * directories in the table show as their basename (`--json` has the full paths). With
 * `now` (ms since the epoch) a recent deploy's time shows as its age, else as ISO 8601.
 */
export function formatStatus(status: DaemonStatus, now?: number): string {
  const lines = [
    `switchyard ${shown(status.version)}  pid ${status.pid}  up ${formatUptime(status.uptimeMs)}  ${status.kind} replicas`,
    `serving  ${status.servingRelease === null ? '(no release yet)' : shown(status.servingRelease)}  (${shown(status.symlink)})`,
    `last     ${status.lastDeploy === null ? '(no deploy yet)' : formatDeployRecord(status.lastDeploy, now)}`,
    `rollback ${status.rollbackTarget === null ? '(nothing to roll back to)' : shown(status.rollbackTarget)}`,
    `queued   ${status.queued}`,
  ];
  if (status.sessions != null) lines.push(`sessions ${formatSessions(status.sessions)}`);
  if (status.surge != null) lines.push(`surge    ${formatSurgeStatus(status.surge, now)}`);
  lines.push('');
  const header = [
    'REPLICA',
    'STATE',
    'PID',
    'RELEASE',
    'IN FLIGHT',
    'ABANDONED',
    'STUCK',
    'SERVED',
    'RESTARTS',
    'UPTIME',
  ];
  const rightAligned = new Set([2, 4, 5, 6, 7, 8, 9]);
  const rows = status.replicas.map((replica) => [
    shown(replica.name),
    replica.state,
    replica.pid === null ? '-' : String(replica.pid),
    releaseName(replica.release),
    String(replica.inFlight),
    String(replica.abandoned ?? 0),
    String(replica.stuck ?? 0),
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
    const [first = '', ...rest] = replica.lastError.trimEnd().split('\n').map(shown);
    lines.push(
      '',
      `${shown(replica.name)} last error: ${first}`,
      ...rest.map((line) => `  ${line}`),
    );
  }
  for (const replica of status.replicas) {
    const stuck = replica.stuckRequests ?? [];
    if (stuck.length > 0) lines.push('', `${shown(replica.name)} stuck requests:`);
    for (const request of stuck) lines.push(`  ${formatStuckRequest(request)}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * `pid 4121  63.0s  abandoned  /srv/app/current/report.php (/report.php?id=7)  session
 * 3fa2c1d04b9e: waiting on PHP session lock 3fa2c1d04b9e`.
 */
export function formatStuckRequest(request: StuckRequestStatus): string {
  const parts = [
    request.pid === null ? 'pid ?' : `pid ${request.pid}`,
    formatSeconds(request.elapsedMs),
    request.held,
    `${shown(request.script ?? '?')} (${shown(request.uri ?? '?')})`,
  ];
  if (request.session !== null) parts.push(`session ${shown(request.session)}`);
  return `${parts.join('  ')}: ${shown(request.blockedOn ?? 'unknown')}`;
}

/**
 * `3 lanes, 12 waiting; longest 3fa2c1d04b9e… 9 waiting, oldest 1.2s (1 per session, affinity
 * session)`. The session shows as its keyed hash only.
 */
export function formatSessions(sessions: SessionsStatus): string {
  const { lanes, waiting, longest } = sessions;
  let text = `${lanes} ${lanes === 1 ? 'lane' : 'lanes'}, ${waiting} waiting`;
  if (longest !== null) {
    text += `; longest ${longest.session}… ${longest.waiting} waiting, oldest ${formatSeconds(longest.oldestWaitMs)}`;
  }
  const lanesSetting =
    sessions.perSession === 0 ? 'lanes off' : `${sessions.perSession} per session`;
  return `${text} (${lanesSetting}, affinity ${sessions.affinity})`;
}

/**
 * `auto; at the last switch (3m12s ago): surge: yes (needs 412 MiB for 2 more replicas …)`, or
 * `auto; decided when a switch or restart starts` before the first.
 */
export function formatSurgeStatus(surge: SurgeStatus, now?: number): string {
  const setting = typeof surge.setting === 'boolean' ? String(surge.setting) : surge.setting;
  if (surge.last === null) return `${setting}; decided when a switch or restart starts`;
  const when = shown(formatWhen(surge.last.decidedAt, now));
  return `${setting}; at the last ${surge.last.change} (${when}): ${shown(surge.last.message)}`;
}

function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** One progress line of a restart: `replica-1  draining     pid 1234  41  3 in flight`. */
export function formatProgress(event: ReplicaProgressEvent): string {
  const parts = [
    shown(event.name),
    event.state.padEnd(LONGEST_STATE),
    event.pid === null ? 'no pid' : `pid ${event.pid}`,
  ];
  if (event.release !== null) parts.push(releaseName(event.release));
  const detail = progressDetail(event);
  if (detail !== '') parts.push(shown(detail));
  return parts.join('  ').trimEnd();
}

/**
 * The event's message without what the columns already say: the daemon's messages are
 * written for its log ("draining (outdated, 2 in flight)", "ready (pid 1301)").
 */
function progressDetail(event: ReplicaProgressEvent): string {
  let detail = event.message;
  if (detail.startsWith(event.state)) {
    detail = detail
      .slice(event.state.length)
      .trim()
      .replace(/^\((.*)\)$/, '$1');
  }
  return event.pid !== null && detail === `pid ${event.pid}` ? '' : detail;
}

/**
 * A deploy's or a rollback's cut-over:
 * `cut-over  new requests now go to /srv/app/releases/43 (was …/42)`. A previous release
 * beside the new one shows as `…/<basename>`. The event's message says the same in words
 * and is not repeated.
 */
export function formatToggle(event: ToggleProgressEvent): string {
  const text = `cut-over  new requests now go to ${shown(event.release)}`;
  if (event.previous === null || event.previous === event.release) return text;
  return `${text} (was ${shown(besides(event.previous, event.release))})`;
}

/** Any progress line before the final one: a replica's step, the surge decision or the cut-over. */
export function formatEvent(event: Exclude<ProgressEvent, DoneEvent>): string {
  if (event.kind === 'toggle') return formatToggle(event);
  // The daemon's own line; the reason holds nothing from the file system, escaped all the same.
  if (event.kind === 'surge') return shown(event.message);
  return formatProgress(event);
}

/** The last line of a restart: `restart done in 12.3s: …` or `restart failed after 3.1s: …`. */
export function formatDone(done: DoneEvent): string {
  if (!done.ok) return formatFailure('restart', done);
  const head = `restart done in ${formatElapsed(done.durationMs)}`;
  return done.message === '' ? head : `${head}: ${shown(done.message)}`;
}

/**
 * What a streamed operation ended with. Success: `restart done in 12.3s: …`,
 * `deployed /srv/app/releases/43 in 12.3s`, `rolled back to /srv/app/releases/42 in 3.2s`
 * (`release` is where it went, when known). Failure: see formatFailure.
 */
export function formatOutcome(
  operation: Operation,
  done: DoneEvent,
  release: string | null,
): string {
  if (operation === 'restart') return formatDone(done);
  if (done.historyError !== undefined) return formatUnrecorded(operation, done, release);
  if (!done.ok) return formatFailure(operation, done);
  return formatSwitched(operation, done, release);
}

function formatSwitched(operation: Operation, done: DoneEvent, release: string | null): string {
  const took = formatElapsed(done.durationMs);
  if (release !== null) {
    return `${operation === 'deploy' ? 'deployed' : 'rolled back to'} ${shown(release)} in ${took}`;
  }
  // Where it went is unknown (no cut-over line): the daemon's message says it instead.
  const verb = operation === 'deploy' ? 'deployed' : 'rolled back';
  return done.message === '' ? `${verb} in ${took}` : `${verb} in ${took}: ${shown(done.message)}`;
}

/**
 * A switch that serves but could not be recorded (a full state disk):
 * `deployed /srv/app/releases/43 in 2.1s, but the release history could not be saved: ENOSPC…`
 * and what that costs, indented. Not a failure line: the release did switch.
 */
function formatUnrecorded(operation: Operation, done: DoneEvent, release: string | null): string {
  const switched = formatSwitched(operation, { ...done, message: '' }, release);
  return [
    `${switched}, but the release history could not be saved: ${shown(done.historyError ?? '')}`,
    '  the daemon keeps it in memory; after a daemon restart, `switchyard rollback` will not know this switch',
  ].join('\n');
}

/**
 * `deploy failed after 8.1s: <first line>`, then the message's following lines (the
 * worker's own output) indented by two spaces.
 */
export function formatFailure(operation: Operation, done: DoneEvent): string {
  const head = `${operation} failed after ${formatElapsed(done.durationMs)}`;
  const [first = '', ...rest] = escapeControlsByLine(
    done.message.replace(/^(\s*\n)+/, '').trimEnd(),
  ).split('\n');
  if (first === '' && rest.length === 0) return head;
  return [`${head}: ${first}`, ...rest.map((line) => `  ${line}`.trimEnd())].join('\n');
}

/**
 * One release switch for `status`:
 * `deploy of 43  ok  3m12s ago  took 12.3s  switched to /srv/app/releases/43`
 * (the message's first line only; `--json` has all of it).
 */
export function formatDeployRecord(record: DeployRecord, now?: number): string {
  const what =
    record.trigger === 'deploy'
      ? `deploy of ${releaseName(record.release)}`
      : record.trigger === 'rollback'
        ? `rollback to ${releaseName(record.release)}`
        : record.trigger === 'recovery'
          ? `recovery to ${releaseName(record.release)}`
          : `symlink flip to ${releaseName(record.release)}`;
  const parts = [
    what,
    record.ok ? 'ok' : 'failed',
    shown(formatWhen(record.startedAt, now)),
    `took ${formatElapsed(record.durationMs)}`,
  ];
  const message = record.message.trim().split('\n')[0]?.trim() ?? '';
  if (message !== '') parts.push(shown(message));
  return parts.join('  ');
}

/** `3m12s ago` for a time within the last day (given `now`), else the ISO time as it is. */
export function formatWhen(iso: string, now?: number): string {
  const at = Date.parse(iso);
  if (now === undefined || Number.isNaN(at)) return iso;
  const age = now - at;
  // A little clock skew between the CLI and the daemon is "0s ago"; more is shown as it is.
  if (age < -5_000 || age >= RELATIVE_WHEN_MS) return iso;
  return `${formatUptime(age)} ago`;
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

/** `…/42` for a release in the same directory as `other`, else the whole path. */
function besides(release: string, other: string): string {
  const parent = dirname(release);
  return parent !== '/' && parent !== '.' && parent === dirname(other)
    ? `…/${basename(release)}`
    : release;
}

function releaseName(release: string | null): string {
  if (release === null) return '-';
  return shown(basename(release) || release);
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

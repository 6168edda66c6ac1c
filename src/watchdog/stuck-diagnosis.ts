import type { ListenAddress } from '../config/address.js';
import type { SessionHasher } from '../sessions/session-hasher.js';
import { blockedOn } from './blocked-on.js';
import { type FpmProcess, type FpmStatus, readFpmStatus } from './fpm-status.js';

/** A request switchyard counts as stuck, as it sent it to the replica. */
export interface StuckRequest {
  /** SCRIPT_FILENAME as the worker got it (after release pinning). */
  readonly script: string;
  /** REQUEST_URI as the worker got it. */
  readonly uri: string;
  readonly elapsedMs: number;
  /** The session's hash (SessionTag.hash), or null for a request without a session. */
  readonly session: string | null;
  /** When it was sent to the replica, ms since the epoch. */
  readonly startedAt: number;
}

/** Where to look for a replica's workers. */
export type ReplicaProcesses =
  /** php-fpm: its status page names the child running each request. */
  | { readonly kind: 'php-fpm'; readonly address: ListenAddress; readonly statusPath: string }
  /** Any other FastCGI program: the processes of its group(s), as the caller listed them. */
  | { readonly kind: 'command'; readonly pids: readonly number[] };

/** One stuck request, and what its worker is blocked on. */
export interface DiagnosisEntry {
  readonly replica: string;
  /** The worker running it, or null when it cannot be told. */
  readonly pid: number | null;
  readonly script: string;
  readonly uri: string;
  readonly elapsedMs: number;
  readonly session: string | null;
  /** `waiting on PHP session lock 1a2b3c4d5e6f (held by pid 41)`, `in clock_nanosleep`, … */
  readonly blockedOn: string;
}

export interface DiagnoseOptions {
  readonly replica: string;
  readonly processes: ReplicaProcesses;
  readonly stuck: readonly StuckRequest[];
  readonly sessionHasher: Pick<SessionHasher, 'tag'> | null;
  /** Bound on the status page request (php-fpm): a child must be free to answer it. */
  readonly statusTimeoutMs: number;
  /** /proc unless told (tests). */
  readonly proc?: string;
}

/** Processes of a command replica described in one entry; the rest are counted. */
const MAX_LISTED_PROCESSES = 8;

/** The diagnosis of each stuck request of one replica, in the order given. Never throws. */
export async function diagnoseStuck(options: DiagnoseOptions): Promise<DiagnosisEntry[]> {
  if (options.stuck.length === 0) return [];
  const { processes } = options;
  return processes.kind === 'php-fpm'
    ? diagnosePhpFpm(options, processes)
    : diagnoseCommand(options, processes.pids);
}

async function diagnosePhpFpm(
  options: DiagnoseOptions,
  where: { readonly address: ListenAddress; readonly statusPath: string },
): Promise<DiagnosisEntry[]> {
  let status: FpmStatus;
  try {
    status = await readFpmStatus(where.address, where.statusPath, {
      timeoutMs: options.statusTimeoutMs,
    });
  } catch (error) {
    const reason = `unknown: ${(error as Error).message}`;
    return options.stuck.map((request) => entry(options.replica, request, null, reason));
  }
  const children = matchChildren(options.stuck, status.processes, where.statusPath);
  return Promise.all(
    options.stuck.map(async (request, index) => {
      const child = children[index] ?? null;
      if (child === null) {
        return entry(options.replica, request, null, 'unknown: no busy child runs it');
      }
      const blocked = await blockedOn(child.pid, optionsFor(options));
      return entry(options.replica, request, child.pid, blocked);
    }),
  );
}

/**
 * Pairs each stuck request with the busy child running it: same REQUEST_URI and script, the
 * duration nearest its elapsed time (the clocks differ by the time the request took to reach
 * the child); a child is given to one request only. A script that differs (a front controller
 * rewritten by the web server) still matches by URI. Exported for tests.
 */
export function matchChildren(
  stuck: readonly StuckRequest[],
  processes: readonly FpmProcess[],
  statusPath: string,
): (FpmProcess | null)[] {
  const busy = processes.filter(
    (child) => child.state !== 'Idle' && !isStatusRequest(child, statusPath),
  );
  const taken = new Set<number>();
  // The longest-running first: they are the ones the watchdog acts on.
  const order = stuck
    .map((_, index) => index)
    .sort((a, b) => elapsed(stuck, b) - elapsed(stuck, a));
  const matched: (FpmProcess | null)[] = stuck.map(() => null);
  for (const index of order) {
    const request = stuck[index] as StuckRequest;
    const free = busy.filter((child) => !taken.has(child.pid) && child.requestUri === request.uri);
    const sameScript = free.filter((child) => child.script === request.script);
    const best = nearest(sameScript.length > 0 ? sameScript : free, request.elapsedMs);
    if (best !== null) {
      taken.add(best.pid);
      matched[index] = best;
    }
  }
  return matched;
}

function elapsed(stuck: readonly StuckRequest[], index: number): number {
  return stuck[index]?.elapsedMs ?? 0;
}

function nearest(children: readonly FpmProcess[], elapsedMs: number): FpmProcess | null {
  let best: FpmProcess | null = null;
  for (const child of children) {
    if (
      best === null ||
      Math.abs(child.requestDurationMs - elapsedMs) < Math.abs(best.requestDurationMs - elapsedMs)
    ) {
      best = child;
    }
  }
  return best;
}

/** The status request that is answering us right now. */
function isStatusRequest(child: FpmProcess, statusPath: string): boolean {
  return child.script === null && child.requestUri.split('?', 1)[0] === statusPath;
}

/**
 * A command replica's processes cannot be paired with requests from the outside: each stuck
 * request gets what /proc says of the busy ones (those not waiting in accept for a request).
 * With one stuck request and one busy process, that process is named as its worker.
 */
async function diagnoseCommand(
  options: DiagnoseOptions,
  pids: readonly number[],
): Promise<DiagnosisEntry[]> {
  const described = await Promise.all(
    pids.map(async (pid) => ({ pid, blocked: await blockedOn(pid, optionsFor(options)) })),
  );
  const busy = described.filter(
    ({ blocked }) => !/^in accept4?\b/.test(blocked) && !blocked.startsWith('gone'),
  );
  if (busy.length === 1 && options.stuck.length === 1) {
    const [only] = busy as [(typeof busy)[0]];
    return [entry(options.replica, options.stuck[0] as StuckRequest, only.pid, only.blocked)];
  }
  const listed = busy
    .slice(0, MAX_LISTED_PROCESSES)
    .map(({ pid, blocked }) => `pid ${pid} ${blocked}`);
  if (busy.length > MAX_LISTED_PROCESSES) {
    listed.push(`${busy.length - MAX_LISTED_PROCESSES} more`);
  }
  const summary =
    listed.length === 0
      ? `unknown: no busy process among ${pids.length}`
      : `one of: ${listed.join('; ')}`;
  return options.stuck.map((request) => entry(options.replica, request, null, summary));
}

function optionsFor(options: DiagnoseOptions) {
  return {
    sessionHasher: options.sessionHasher,
    ...(options.proc === undefined ? {} : { proc: options.proc }),
  };
}

function entry(
  replica: string,
  request: StuckRequest,
  pid: number | null,
  blocked: string,
): DiagnosisEntry {
  return {
    replica,
    pid,
    script: request.script,
    uri: request.uri,
    elapsedMs: request.elapsedMs,
    session: request.session,
    blockedOn: blocked,
  };
}

import type { AffinityMode } from '../config/config-types.js';
import type { LanesSnapshot } from '../sessions/session-lanes.js';
import type { ReplicaState } from '../supervisor/replica-state.js';
import type { SurgeStatus } from '../supervisor/surge-chooser.js';

/** Paths on the control socket (JSON over HTTP). Shared by the server and the client. */
export const CONTROL_ROUTES = {
  status: '/v1/status',
  restart: '/v1/restart',
  deploy: '/v1/deploy',
  rollback: '/v1/rollback',
  await: '/v1/await',
  upgrade: '/v1/upgrade',
} as const;

export interface ReplicaStatus {
  /** `replica-1`, … (the surge spare is `replica-<count+1>`). */
  readonly name: string;
  /** Managed replicas: the supervisor's state. External ones: 'ready' or 'failed' (unreachable). */
  readonly state: ReplicaState;
  /** php-fpm master pid, or the first command process; null when not running. */
  readonly pid: number | null;
  readonly pids: readonly number[];
  /** The pinned release directory, or null before the first start. */
  readonly release: string | null;
  readonly inFlight: number;
  /**
   * Slots whose client went away (or timed out) while the worker still runs the script: taken
   * until its END_REQUEST. Absent from daemons older than the watchdog.
   */
  readonly abandoned?: number;
  /** Slots given up on (abandoned past `watchdog.abandon_after`): taken until replaced. */
  readonly stuck?: number;
  /** Requests running past `watchdog.stuck_after`, with what their workers are blocked on. */
  readonly stuckRequests?: readonly StuckRequestStatus[];
  /** Requests answered by this slot since the daemon started (all incarnations). */
  readonly served: number;
  /** Restarts after a crash or failed health check. */
  readonly restarts: number;
  /** Milliseconds since this incarnation became ready, or null when not ready. */
  readonly uptimeMs: number | null;
  readonly healthFailures: number;
  /** Why it last failed, with the tail of its own output when there is one. */
  readonly lastError: string | null;
}

/** A request running past `watchdog.stuck_after`, as the watchdog diagnosed it. */
export interface StuckRequestStatus {
  /** The worker running it (php-fpm's status page, or /proc), or null when unknown. */
  readonly pid: number | null;
  readonly script: string | null;
  readonly uri: string | null;
  readonly elapsedMs: number;
  /** The session's keyed hash (never the id), or null. */
  readonly session: string | null;
  /** Whether a client still waits for it, or it was abandoned, or its slot given up. */
  readonly held: 'running' | 'abandoned' | 'stuck';
  /** What the worker waits on: "PHP session lock 3f2a…", "nanosleep", …; null when unknown. */
  readonly blockedOn: string | null;
}

/** Session lanes and affinity (`[sessions]`). Sessions appear only as keyed hashes. */
export interface SessionsStatus extends LanesSnapshot {
  /** Requests of one session let into the workers at once; 0 when lanes are off. */
  readonly perSession: number;
  readonly affinity: AffinityMode;
}

export interface DaemonStatus {
  readonly version: string;
  readonly pid: number;
  readonly uptimeMs: number;
  readonly kind: 'php-fpm' | 'command' | 'external';
  readonly symlink: string;
  /** The release new requests go to. */
  readonly servingRelease: string | null;
  readonly queued: number;
  /** Null without a `[sessions]` table; absent from daemons older than session lanes. */
  readonly sessions?: SessionsStatus | null;
  readonly replicas: readonly ReplicaStatus[];
  /** The most recent deploy, rollback or followed symlink flip; null before the first. */
  readonly lastDeploy: DeployRecord | null;
  /** Where `switchyard rollback` would go now, or null when there is nowhere to go back to. */
  readonly rollbackTarget: string | null;
  /**
   * `[replicas] surge` and what the latest switch or restart decided with it; null for
   * external replicas, absent from daemons older than `surge = "auto"`.
   */
  readonly surge?: SurgeStatus | null;
}

/** One release switch, as kept in the daemon's history (paths.state/releases.json). */
export interface DeployRecord {
  /**
   * What started it: `switchyard deploy`, `switchyard rollback`, a flip of the symlink seen by
   * the daemon, or the daemon itself going back to the last good release at start (`recovery`:
   * the symlink's release did not start).
   */
  readonly trigger: 'deploy' | 'rollback' | 'symlink' | 'recovery';
  /** The release directory it switched to (resolved). */
  readonly release: string;
  /** The release served before it. */
  readonly previous: string;
  readonly ok: boolean;
  /** ISO 8601 time it started. */
  readonly startedAt: string;
  readonly durationMs: number;
  /** "switched to …", or why it failed (with the worker's own output when there is some). */
  readonly message: string;
}

export interface DeployRequest {
  /** The release directory, absolute (the CLI resolves a relative one against its cwd). */
  readonly target: string;
  /** Deploy even when the target is already the current release (restarts every replica on it). */
  readonly force?: boolean;
}

export type RollbackRequest = Record<string, never>;

/** `switchyard await`: wait until every replica serves the release the symlink was flipped to. */
export interface AwaitRequest {
  /**
   * The release directory a deploy tool flipped the symlink to (absolute); without it, the
   * symlink's target when the daemon reads the request.
   */
  readonly release?: string;
  /** How long to wait, at most MAX_AWAIT_TIMEOUT_MS. */
  readonly timeoutMs: number;
}

/** The longest `switchyard await` a daemon holds a control connection for. */
export const MAX_AWAIT_TIMEOUT_MS = 3_600_000;

export interface RestartRequest {
  /** 1-based replica number; omitted for all of them, one at a time. */
  readonly replica?: number;
}

/** `switchyard upgrade`: replace the daemon by a new one on the same sockets. */
export interface UpgradeRequest {
  /** The switchyard to start (absolute); without it, the running daemon's own command line. */
  readonly binary?: string;
}

/** One line of a streamed operation's progress (newline-delimited JSON). */
export type ProgressEvent =
  | {
      readonly kind: 'replica';
      readonly name: string;
      readonly state: ReplicaState;
      readonly pid: number | null;
      readonly release: string | null;
      readonly message: string;
    }
  | {
      /**
       * Whether the replacements start beside the old replicas, decided as a switch or restart
       * starts (`[replicas] surge`, "auto": when the memory available covers them).
       */
      readonly kind: 'surge';
      readonly surge: boolean;
      readonly reason: string;
      /** The line to show: `surge: yes (…)`, `surge: no (…): half the replicas switch at a time`. */
      readonly message: string;
    }
  | {
      /** The cut-over: from now on new requests go to `release`. */
      readonly kind: 'toggle';
      readonly release: string;
      readonly previous: string | null;
      readonly message: string;
    }
  | {
      readonly kind: 'done';
      /** False when it failed, and when a switch happened but could not be recorded (below). */
      readonly ok: boolean;
      readonly message: string;
      readonly durationMs: number;
      /**
       * Set only when a deploy or rollback switched the release but the release history could
       * not be saved (a full or unwritable paths.state): why. `ok` is then false, so a script
       * notices; the release serves, and a restarted daemon will not know the switch.
       */
      readonly historyError?: string;
    };

/** The error body of a refused request. */
export interface ControlErrorBody {
  readonly error: { readonly code: string; readonly message: string };
}

/** What the daemon does for the control server; the server only speaks HTTP. */
export interface ControlHandler {
  status(): DaemonStatus;
  /** Streams progress through `onEvent`; resolves with the final 'done' event. */
  restart(
    request: RestartRequest,
    onEvent: (event: ProgressEvent) => void,
  ): Promise<ProgressEvent & { kind: 'done' }>;
  /** Refuses a bad target (CodedError, before anything changes); then streams like restart. */
  deploy(
    request: DeployRequest,
    onEvent: (event: ProgressEvent) => void,
  ): Promise<ProgressEvent & { kind: 'done' }>;
  rollback(
    request: RollbackRequest,
    onEvent: (event: ProgressEvent) => void,
  ): Promise<ProgressEvent & { kind: 'done' }>;
  /**
   * Streams the progress of the switch to the awaited release; `signal` aborts when the client
   * leaves (the wait ends, the switch goes on).
   */
  awaitRelease(
    request: AwaitRequest,
    onEvent: (event: ProgressEvent) => void,
    signal: AbortSignal,
  ): Promise<ProgressEvent & { kind: 'done' }>;
  /**
   * Starts a successor daemon on the same sockets and hands over to it once it is ready
   * (refused, ERR_BUSY, while a switch or restart runs). Answered as a stream with its `done`
   * line only: the steps are in the daemon's log. A handler without it refuses upgrades
   * (ERR_UPGRADE_UNSUPPORTED).
   */
  upgrade?(request: UpgradeRequest): Promise<ProgressEvent & { kind: 'done' }>;
}

/** A progress line about one replica. */
export type ReplicaProgressEvent = Extract<ProgressEvent, { kind: 'replica' }>;
/** The progress line saying whether a switch or restart surges. */
export type SurgeProgressEvent = Extract<ProgressEvent, { kind: 'surge' }>;
/** The last line of a streamed operation. */
export type DoneEvent = Extract<ProgressEvent, { kind: 'done' }>;

/** Media type of a streamed operation: one JSON ProgressEvent per line. */
export const NDJSON_CONTENT_TYPE = 'application/x-ndjson';

/** Codes the control server answers with on its own, before the handler is asked. */
export type ControlServerErrorCode =
  /** Unreadable JSON, or a body that is not a valid request (400). */
  | 'ERR_CONTROL_BAD_REQUEST'
  /** A body over the limit (413). */
  | 'ERR_CONTROL_BODY_TOO_LARGE'
  /** No such route (404). */
  | 'ERR_CONTROL_NOT_FOUND'
  /** A known route with the wrong method (405, with `Allow`). */
  | 'ERR_CONTROL_METHOD'
  /** The handler failed with something other than a CodedError: a bug, logged by the daemon (500). */
  | 'ERR_CONTROL_INTERNAL';

/**
 * Codes a handler refuses a request with, by throwing a CodedError before its first event
 * (the daemon's ControlRequestError). The server answers 409 for any CodedError except those
 * with their own status in REFUSAL_STATUS.
 */
export type ControlRefusalCode =
  /** A deploy, rollback, restart or upgrade is running, or the daemon is stopping (409; control/operation-lock.ts). */
  | 'ERR_BUSY'
  /** `--replica 7` with 2 replicas (404). */
  | 'ERR_NO_SUCH_REPLICA'
  /** Restarting external replicas, which switchyard does not run (409). */
  | 'ERR_NOT_MANAGED'
  /** A deploy target that is missing, not a directory, outside release.root or already current (422). */
  | 'ERR_DEPLOY_TARGET'
  /** `rollback` with no earlier release in the history (409). */
  | 'ERR_NO_ROLLBACK_TARGET'
  /** `restart` while the serving release's directory no longer exists (409). */
  | 'ERR_RELEASE_GONE'
  /** More `await`s at once than the daemon holds (409). */
  | 'ERR_TOO_MANY_AWAITS'
  /** `upgrade` where it cannot hand its sockets over (409): see src/upgrade/. */
  | 'ERR_UPGRADE_UNSUPPORTED';

/** HTTP statuses of refusals that are not a plain conflict (409). */
export const REFUSAL_STATUS: Readonly<Partial<Record<string, number>>> = {
  ERR_NO_SUCH_REPLICA: 404,
  ERR_DEPLOY_TARGET: 422,
};

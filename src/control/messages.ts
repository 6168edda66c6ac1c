import type { ReplicaState } from '../supervisor/replica-state.js';

/** Paths on the control socket (JSON over HTTP). Shared by the server and the client. */
export const CONTROL_ROUTES = {
  status: '/v1/status',
  restart: '/v1/restart',
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

export interface DaemonStatus {
  readonly version: string;
  readonly pid: number;
  readonly uptimeMs: number;
  readonly kind: 'php-fpm' | 'command' | 'external';
  readonly symlink: string;
  /** The release new requests go to. */
  readonly servingRelease: string | null;
  readonly queued: number;
  readonly replicas: readonly ReplicaStatus[];
}

export interface RestartRequest {
  /** 1-based replica number; omitted for all of them, one at a time. */
  readonly replica?: number;
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
      readonly kind: 'done';
      readonly ok: boolean;
      readonly message: string;
      readonly durationMs: number;
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
}

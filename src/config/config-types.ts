// The validated configuration's types, apart from the zod tables that build it (schema.ts):
// the data plane imports these, and never zod.
import type { ListenAddress } from './address.js';

/** `[replicas] surge`: always, never, or when the memory for the extra replicas is there. */
export type SurgeSetting = boolean | 'auto';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ListenConfig {
  readonly fastcgi: ListenAddress;
  /** File mode of the FastCGI unix socket. */
  readonly mode: number;
  /** Group given the FastCGI unix socket (the web server's, e.g. www-data), or null. */
  readonly group: string | null;
  readonly http: ListenAddress | null;
}

export interface ReleaseConfig {
  /** Absolute path of the `current -> releases/N` symlink. */
  readonly symlink: string;
  /** When set, `deploy` refuses a target outside this directory (absolute), e.g. /srv/app/releases. */
  readonly root: string | null;
}

export interface DeployConfig {
  /**
   * Paths requested from each new replica after its health check and before it takes
   * traffic (opcache warm-up); any answer but 2xx fails the replica, and so the deploy.
   */
  readonly warmup: readonly string[];
  /** Bound on each warm-up request. */
  readonly warmupTimeoutMs: number;
  /** Bound on a whole deploy or rollback before it is reported failed. */
  readonly timeoutMs: number;
}

export interface ResponseConfig {
  /** Header naming the serving release's directory on every response (e.g. "X-Release"), or null. */
  readonly releaseHeader: string | null;
}

/** Replicas someone else runs: switchyard only routes to them. */
export interface ExternalReplicasConfig {
  readonly kind: 'external';
  readonly addresses: readonly ListenAddress[];
  /** Concurrent requests per replica (pm.max_children). */
  readonly capacity: number;
  readonly idleTimeoutMs: number;
  /** A replica that does not accept a connection within this leaves the rotation. */
  readonly connectTimeoutMs: number;
}

/** What every kind of replica that switchyard starts itself shares. */
export interface ManagedReplicasBase {
  /** Replicas kept running; at least 2 (one serves while another restarts). */
  readonly count: number;
  /** Concurrent requests switchyard routes to one replica. */
  readonly capacity: number;
  readonly idleTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /**
   * Start replacements beside the old replicas, so capacity never drops: always (true), never
   * (false), or "auto": when the memory available covers them (decided as each switch or
   * restart starts).
   */
  readonly surge: SurgeSetting;
  /** With surge = "auto": memory kept free beyond what the extra replicas take. */
  readonly surgeMarginBytes: number;
}

export interface PhpFpmReplicasConfig extends ManagedReplicasBase {
  readonly kind: 'php-fpm';
  readonly phpFpm: {
    /** Absolute path of the php-fpm binary (looked up on PATH at load time). */
    readonly binary: string;
    /** Absolute path of a file of extra pool directives, or null. */
    readonly pool: string | null;
    /** Worker user and group when switchyard runs as root (php-fpm refuses root workers). */
    readonly user: string;
    readonly group: string;
    /** `user` may be root (php-fpm's -R): PHP then runs with every privilege. */
    readonly allowRootWorkers: boolean;
  };
}

export interface CommandReplicasConfig extends ManagedReplicasBase {
  readonly kind: 'command';
  readonly command: {
    /** argv[0] is an absolute path (looked up on PATH at load time). */
    readonly argv: readonly string[];
    /** Extra environment; `{socket}` in a value is replaced by the replica's socket path. */
    readonly env: Readonly<Record<string, string>>;
  };
}

export type ManagedReplicasConfig = PhpFpmReplicasConfig | CommandReplicasConfig;
export type ReplicasConfig = ExternalReplicasConfig | ManagedReplicasConfig;

export interface HealthConfig {
  /** A real FastCGI request to this path; php-fpm's ping.path is set to it. */
  readonly path: string;
  /** The response body must contain this (and the status be 2xx). */
  readonly expect: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Consecutive failed checks after which a ready replica is replaced. */
  readonly failures: number;
  /** How long a starting replica has to pass its first check. */
  readonly startTimeoutMs: number;
}

export interface DrainConfig {
  /** Longest wait for a draining replica's in-flight requests before it is stopped anyway. */
  readonly timeoutMs: number;
}

export interface ControlConfig {
  /** Absolute path of the control socket the CLI talks to. */
  readonly socket: string;
  readonly mode: number;
  /** Group that owns the socket, or null to leave it to the daemon's group. */
  readonly group: string | null;
}

export interface PathsConfig {
  /** Replica sockets and generated php-fpm configs (systemd RuntimeDirectory). */
  readonly runtime: string;
  /** Release history and other state that survives a restart (systemd StateDirectory). */
  readonly state: string;
}

export interface LimitsConfig {
  readonly queue: number;
  readonly queueTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly maxParamsBytes: number;
  readonly retryBodyBytes: number;
  /** Client connections one front keeps open at once; further ones are closed (HTTP: 503). */
  readonly maxConnections: number;
  /** Requests one FastCGI connection may have open at once (web servers use 1). */
  readonly requestsPerConnection: number;
  /**
   * Bytes one client connection may make switchyard hold at once (params being collected,
   * bodies no backend has taken yet, answers the client has not read); beyond it the
   * connection is closed.
   */
  readonly connectionBufferBytes: number;
  /** From BEGIN_REQUEST to the end of its params; then the connection is closed. */
  readonly paramsTimeoutMs: number;
  /** A client connection with no request in progress is closed after this long silent. */
  readonly clientIdleTimeoutMs: number;
}

export const AFFINITY_MODES = ['none', 'session'] as const;
export type AffinityMode = (typeof AFFINITY_MODES)[number];

/** Session lanes and affinity (`[sessions]`); null when the table is absent. */
export interface SessionsConfig {
  /** Cookie names that carry the session id, in order of preference (PHP's session.name). */
  readonly cookies: readonly string[];
  /** Query parameters that carry it, looked at when no cookie does. */
  readonly params: readonly string[];
  /** Requests of one session in the workers at once; 0 turns lanes off. */
  readonly perSession: number;
  /** Requests one lane may hold waiting; beyond that: 429 with Retry-After. */
  readonly laneQueue: number;
  /** Longest wait in a lane before a 503. */
  readonly laneTimeoutMs: number;
  /** Requests waiting in all lanes together; beyond that: 503. */
  readonly maxWaiting: number;
  /** A lane holding more than this many waiting requests is logged (once a minute per lane). */
  readonly warnLane: number;
  readonly affinity: AffinityMode;
  /** Affinity skips a replica above this multiple of the mean load (bounded-load hashing). */
  readonly affinityLoad: number;
}

export const STATIC_HEADERS = ['x-accel-redirect', 'x-sendfile'] as const;
export type StaticHeader = (typeof STATIC_HEADERS)[number];
export const STATIC_RELEASE_MODES = ['serving', 'cookie'] as const;
export type StaticReleaseMode = (typeof STATIC_RELEASE_MODES)[number];

/** Static files from the release that rendered the page (`[static]`); null when absent. */
export interface StaticConfig {
  /** nginx's X-Accel-Redirect, or X-Sendfile (Apache's mod_xsendfile, lighttpd). */
  readonly header: StaticHeader;
  /** The document root inside each release, relative and normalised (`public`); '' is the release. */
  readonly documentRoot: string;
  /** x-accel-redirect: the prefix of nginx's internal location aliasing release.root; else null. */
  readonly internalLocation: string | null;
  /** Which release a static request is served from: the serving one, or the client's cookie's. */
  readonly release: StaticReleaseMode;
  /** The cookie naming the release that rendered a page (cookie mode). */
  readonly cookie: string;
  /** The FastCGI param the web server sets on the requests it hands over as static. */
  readonly param: string;
}

/**
 * Stuck workers (`[watchdog]`): when a replica counts as stuck and is replaced, how long an
 * aborted request's worker is waited for, and php-fpm's slow log.
 */
export interface WatchdogConfig {
  /** A request running on a worker longer than this counts as stuck. */
  readonly stuckAfterMs: number;
  /** Stuck slots in one replica that get it replaced; 'all' is the replica's capacity. */
  readonly stuckWorkers: number | 'all';
  /**
   * How long the backend connection of an aborted or timed-out request waits for its
   * END_REQUEST (the slot stays busy) before it is closed and the slot counted stuck.
   */
  readonly abandonAfterMs: number;
  /** php-fpm's request_slowlog_timeout (whole seconds), or null: no slow log. */
  readonly slowlogMs: number | null;
}

export interface LogConfig {
  readonly level: LogLevel;
}

export interface Config {
  readonly listen: ListenConfig;
  readonly release: ReleaseConfig;
  readonly replicas: ReplicasConfig;
  readonly health: HealthConfig;
  readonly drain: DrainConfig;
  readonly control: ControlConfig;
  readonly paths: PathsConfig;
  readonly deploy: DeployConfig;
  readonly response: ResponseConfig;
  readonly limits: LimitsConfig;
  readonly sessions: SessionsConfig | null;
  readonly static: StaticConfig | null;
  readonly watchdog: WatchdogConfig;
  readonly log: LogConfig;
}

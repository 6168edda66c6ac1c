import { type ListenFds, parseListenFds } from './listen-fds.js';

/** What systemd (or the daemon this one upgrades) handed this process through its environment. */
export interface SystemdEnvironment {
  /** NOTIFY_SOCKET: where READY=1, STATUS=, WATCHDOG=1 go; null when not run as Type=notify. */
  readonly notifySocket: string | null;
  /** WATCHDOG_USEC, when it is meant for this process (WATCHDOG_PID unset or this pid). */
  readonly watchdogUsec: number | null;
  /** LISTEN_FDS/LISTEN_FDNAMES, when LISTEN_PID is this process. */
  readonly listenFds: ListenFds;
  /** Set when this daemon was started by `switchyard upgrade` of another one. */
  readonly upgrade: UpgradeMarker | null;
}

/** How an upgrading daemon told its successor who it is and where to report. */
export interface UpgradeMarker {
  /** The daemon being replaced. */
  readonly fromPid: number;
  /** A pipe to it: the successor writes one line, ready or why not. */
  readonly reportFd: number;
}

/** The upgrade marker's variables (see src/upgrade/). */
export const UPGRADE_FROM_VARIABLE = 'SWITCHYARD_UPGRADE_FROM';
export const UPGRADE_FD_VARIABLE = 'SWITCHYARD_UPGRADE_FD';

/**
 * The variables taken: sd_notify(3)'s and sd_listen_fds(3)'s own `unset_environment`. The
 * replicas start with the daemon's environment; php-fpm reads NOTIFY_SOCKET itself and would
 * send its own READY=1 and MAINPID=, which systemd would take for the service's.
 */
const TAKEN = [
  'NOTIFY_SOCKET',
  'WATCHDOG_USEC',
  'WATCHDOG_PID',
  'LISTEN_FDS',
  'LISTEN_PID',
  'LISTEN_FDNAMES',
  UPGRADE_FROM_VARIABLE,
  UPGRADE_FD_VARIABLE,
] as const;

/**
 * Reads what systemd passed and removes it from `env` (process.env), so that no replica,
 * whatever launches it, inherits it. Call once, before any replica starts.
 */
export function takeSystemdEnvironment(
  env: NodeJS.ProcessEnv = process.env,
  pid: number = process.pid,
): SystemdEnvironment {
  const taken: Record<string, string | undefined> = {};
  for (const name of TAKEN) {
    taken[name] = env[name];
    delete env[name];
  }
  return {
    notifySocket: nonEmpty(taken.NOTIFY_SOCKET),
    watchdogUsec: watchdogUsec(taken.WATCHDOG_USEC, taken.WATCHDOG_PID, pid),
    listenFds: parseListenFds(taken.LISTEN_FDS, taken.LISTEN_FDNAMES, taken.LISTEN_PID, pid),
    upgrade: upgradeMarker(taken[UPGRADE_FROM_VARIABLE], taken[UPGRADE_FD_VARIABLE]),
  };
}

/** An environment with nothing from systemd: a daemon started by hand or by a test in-process. */
export const NO_SYSTEMD: SystemdEnvironment = {
  notifySocket: null,
  watchdogUsec: null,
  listenFds: { byName: new Map() },
  upgrade: null,
};

function nonEmpty(value: string | undefined): string | null {
  return value === undefined || value === '' ? null : value;
}

/** sd_watchdog_enabled(3): a positive integer, for this pid when WATCHDOG_PID says whom. */
function watchdogUsec(
  usec: string | undefined,
  forPid: string | undefined,
  pid: number,
): number | null {
  if (usec === undefined || !/^[1-9]\d*$/.test(usec)) return null;
  if (forPid !== undefined && forPid !== '' && Number(forPid) !== pid) return null;
  return Number(usec);
}

/**
 * The upgrade marker alone, read without taking anything: the daemon reports a start that
 * fails before it could read the rest (a LISTEN_FDNAMES it refuses) to its predecessor too.
 */
export function readUpgradeMarker(env: NodeJS.ProcessEnv = process.env): UpgradeMarker | null {
  return upgradeMarker(env[UPGRADE_FROM_VARIABLE], env[UPGRADE_FD_VARIABLE]);
}

function upgradeMarker(from: string | undefined, fd: string | undefined): UpgradeMarker | null {
  if (from === undefined || fd === undefined) return null;
  if (!/^[1-9]\d*$/.test(from) || !/^\d+$/.test(fd)) return null;
  return { fromPid: Number(from), reportFd: Number(fd) };
}

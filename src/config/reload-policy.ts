import type { Config } from './config-types.js';

/**
 * Tables read only at start (sockets, limits, the session and static front): a reload names
 * them as taking effect when the daemon restarts instead of applying them. Every other table
 * applies: `[watchdog]`'s stuck_after, stuck_workers and abandon_after at once (they are read
 * on each check), its slowlog with php-fpm's other settings, in the replicas a reload starts.
 */
const READ_AT_START = [
  'listen',
  'release',
  'limits',
  'sessions',
  'static',
  'control',
  'paths',
  'log',
] as const;

/** A reload that cannot be applied by replacing replicas; null when it can. */
export function reloadRefusal(current: Config, next: Config): string | null {
  if (current.replicas.kind !== next.replicas.kind) {
    return `replicas.kind changed from "${current.replicas.kind}" to "${next.replicas.kind}": restart the daemon to apply it`;
  }
  if (next.replicas.kind === 'external') {
    return 'replicas.kind is "external": nothing to restart; other changes need a daemon restart';
  }
  return null;
}

/** The tables read only at start that `next` changes: they wait for a daemon restart. */
export function keysNeedingRestart(current: Config, next: Config): string[] {
  return READ_AT_START.filter((key) => JSON.stringify(current[key]) !== JSON.stringify(next[key]));
}

/**
 * The config in force after a reload, as status reports it: `next`, with the tables read only
 * at start as the daemon started them (the log level is reported as asked).
 */
export function configInForce(started: Config, next: Config): Config {
  return {
    ...next,
    listen: started.listen,
    release: started.release,
    limits: started.limits,
    sessions: started.sessions,
    static: started.static,
    control: started.control,
    paths: started.paths,
  };
}

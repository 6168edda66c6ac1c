import type { Config } from '../../src/config/config-types.js';

/** The smallest config switchyard accepts: two external replicas, every other key defaulted. */
export const MINIMAL_CONFIG = `
[listen]
fastcgi = "unix:/run/switchyard/app.sock"

[release]
symlink = "/srv/app/current"

[replicas]
kind = "external"
addresses = ["unix:/run/php/a.sock", "unix:/run/php/b.sock"]
`;

/**
 * What MINIMAL_CONFIG, or any config of its [listen] and [release] and a [replicas] table,
 * gets besides its replicas.
 */
export const DEFAULTS_BESIDE_REPLICAS: Omit<Config, 'replicas'> = {
  listen: {
    fastcgi: { kind: 'unix', path: '/run/switchyard/app.sock' },
    mode: 0o660,
    group: null,
    http: null,
  },
  release: { symlink: '/srv/app/current', root: null },
  health: {
    path: '/fpm-ping',
    expect: 'pong',
    intervalMs: 5_000,
    timeoutMs: 2_000,
    failures: 3,
    startTimeoutMs: 30_000,
  },
  drain: { timeoutMs: 30_000 },
  control: { socket: '/run/switchyard/control.sock', mode: 0o600, group: null },
  paths: { runtime: '/run/switchyard', state: '/var/lib/switchyard' },
  deploy: { warmup: [], warmupTimeoutMs: 10_000, timeoutMs: 300_000 },
  response: { releaseHeader: null },
  sessions: null,
  static: null,
  watchdog: { stuckAfterMs: 60_000, stuckWorkers: 'all', abandonAfterMs: 30_000, slowlogMs: null },
  limits: {
    queue: 1024,
    queueTimeoutMs: 5_000,
    requestTimeoutMs: 60_000,
    maxParamsBytes: 1_048_576,
    retryBodyBytes: 1_048_576,
    maxConnections: 1024,
    requestsPerConnection: 16,
    connectionBufferBytes: 3 * 1_048_576,
    paramsTimeoutMs: 10_000,
    clientIdleTimeoutMs: 120_000,
  },
  log: { level: 'info' },
};

import { realpathSync } from 'node:fs';
import type { Logger } from 'pino';
import { Balancer } from './balancer/balancer.js';
import { formatAddress } from './config/address.js';
import { ConfigError } from './config/config-error.js';
import type { Config } from './config/schema.js';
import type { ExchangeOutcome } from './frontend/exchange.js';
import { FastCgiFrontend } from './frontend/fastcgi-frontend.js';
import { HttpFrontend } from './frontend/http-frontend.js';
import { makeReleasePinning } from './frontend/release-pinning.js';

/** Attempts per request: the first, and retries on other connections or replicas. */
const MAX_ATTEMPTS = 3;
const PROBE_INTERVAL_MS = 1_000;
/** Reported to clients that ask with FCGI_GET_VALUES. */
const MAX_CLIENT_CONNECTIONS = 4096;

export interface RunningDaemon {
  readonly balancer: Balancer;
  readonly frontend: FastCgiFrontend;
  readonly http: HttpFrontend | null;
  /** Stops accepting, lets every admitted request finish, then closes what is left. */
  shutdown(): Promise<void>;
  /** Stops at once: every client connection is closed. */
  destroy(): void;
}

/** The composition root: builds the data plane from a validated config and starts it. */
export async function startDaemon(config: Config, logger: Logger): Promise<RunningDaemon> {
  if (config.replicas.kind !== 'external') {
    throw new Error(`replicas.kind "${config.replicas.kind}" is not wired into the daemon yet`);
  }
  const replicas = config.replicas;
  const release = resolveRelease(config.release.symlink);
  const balancer = new Balancer({
    queue: config.limits.queue,
    queueTimeoutMs: config.limits.queueTimeoutMs,
    idleTimeoutMs: config.replicas.idleTimeoutMs,
    connectTimeoutMs: config.replicas.connectTimeoutMs,
    probeIntervalMs: PROBE_INTERVAL_MS,
    logger,
  });
  replicas.addresses.forEach((address, index) => {
    balancer.add({
      id: `replica-${index + 1}`,
      address,
      capacity: config.replicas.capacity,
      release,
      pinning: makeReleasePinning(config.release.symlink, release),
    });
  });

  // Declared before the fronts start: an outcome can arrive while the second one starts.
  let frontend: FastCgiFrontend | null = null;
  let http: HttpFrontend | null = null;
  const activeRequests = () => (frontend?.activeRequests ?? 0) + (http?.activeRequests ?? 0);
  const idleWaiters: Array<() => void> = [];
  const onOutcome = (_exchange: unknown, outcome: ExchangeOutcome) => {
    if (outcome.kind === 'generated') {
      logger.warn({ code: outcome.error.code }, outcome.error.message);
    } else if (outcome.kind === 'failed-midway') {
      logger.warn({ err: outcome.error.message }, 'the application failed after answering in part');
    }
    wakeIfIdle();
  };
  const wakeIfIdle = () => {
    if (idleWaiters.length > 0 && activeRequests() === 0) {
      for (const wake of idleWaiters.splice(0)) wake();
    }
  };
  const capacity = config.replicas.capacity * replicas.addresses.length;
  const fastcgi = await FastCgiFrontend.start(config.listen.fastcgi, config.listen.mode, {
    dispatcher: balancer,
    logger,
    limits: {
      maxParamsBytes: config.limits.maxParamsBytes,
      retryBodyBytes: config.limits.retryBodyBytes,
      requestTimeoutMs: config.limits.requestTimeoutMs,
      maxAttempts: MAX_ATTEMPTS,
      maxConns: MAX_CLIENT_CONNECTIONS,
      maxReqs: capacity + config.limits.queue,
    },
    onOutcome,
    // A request aborted before its params were complete has no outcome, only a removal.
    onRequestRemoved: wakeIfIdle,
  });
  frontend = fastcgi;
  http =
    config.listen.http === null
      ? null
      : await HttpFrontend.start(config.listen.http, {
          dispatcher: balancer,
          logger,
          limits: {
            retryBodyBytes: config.limits.retryBodyBytes,
            requestTimeoutMs: config.limits.requestTimeoutMs,
            maxAttempts: MAX_ATTEMPTS,
          },
          site: { documentRoot: config.release.symlink, index: 'index.php' },
          onOutcome,
        });
  logger.info(
    {
      listen: formatAddress(config.listen.fastcgi),
      http:
        http === null || config.listen.http?.kind !== 'tcp'
          ? null
          : `${config.listen.http.host}:${http.port}`,
      release,
      replicas: replicas.addresses.map(formatAddress),
      capacity,
    },
    'switchyard is serving',
  );

  return {
    balancer,
    frontend: fastcgi,
    http,
    async shutdown() {
      fastcgi.shutdown();
      http?.shutdown();
      if (activeRequests() > 0) {
        logger.info({ inFlight: activeRequests() }, 'waiting for in-flight requests');
        await new Promise<void>((resolve) => idleWaiters.push(resolve));
      }
      balancer.close();
      fastcgi.destroyAll();
      http?.destroyAll();
    },
    destroy() {
      fastcgi.stopAccepting();
      fastcgi.destroyAll();
      http?.stopAccepting();
      http?.destroyAll();
      balancer.close();
    },
  };
}

/** The release the replicas serve: where the symlink points now. */
function resolveRelease(symlink: string): string {
  try {
    return realpathSync(symlink);
  } catch (error) {
    throw new ConfigError(
      'release.symlink',
      `${symlink} does not resolve to a release directory (${(error as NodeJS.ErrnoException).code})`,
    );
  }
}

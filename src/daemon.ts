import { chownSync, mkdirSync, realpathSync } from 'node:fs';
import type { Logger } from 'pino';
import { Balancer } from './balancer/balancer.js';
import { formatAddress } from './config/address.js';
import { ConfigError } from './config/config-error.js';
import type { Config } from './config/schema.js';
import { ControlClient } from './control/control-client.js';
import { ControlServer, resolveGroup } from './control/control-server.js';
import { DaemonControl } from './daemon-control.js';
import { FastCgiFrontend } from './frontend/fastcgi-frontend.js';
import { HttpFrontend } from './frontend/http-frontend.js';
import { releaseHeaderBytes } from './frontend/release-header.js';
import { fitToDescriptorLimit, raiseDescriptorLimit } from './net/descriptor-limit.js';
import { Deployer } from './release/deployer.js';
import { resolvedTargetOrNull } from './release/flip-symlink.js';
import { ReleaseHistory } from './release/release-history.js';
import { SymlinkWatcher } from './release/symlink-watcher.js';
import { watchRemovals } from './removal-watches.js';
import type { Exchange, ExchangeOutcome } from './request/exchange.js';
import { makeReleasePinning } from './request/release-pinning.js';
import { SessionLanes } from './sessions/session-lanes.js';
import { startReplicasOrRecover } from './start-replicas.js';
import { staticFilesFor } from './static/static-files.js';
import { Supervisor, type SupervisorSettings } from './supervisor/supervisor.js';
import { CommandLauncher } from './supervisor/workers/command-launcher.js';
import { PhpFpmLauncher } from './supervisor/workers/php-fpm-launcher.js';

/** Attempts per request: the first, and retries on other connections or replicas. */
const MAX_ATTEMPTS = 3;
const PROBE_INTERVAL_MS = 1_000;

export interface RunningDaemon {
  readonly balancer: Balancer;
  readonly frontend: FastCgiFrontend;
  readonly http: HttpFrontend | null;
  readonly supervisor: Supervisor | null;
  readonly control: ControlServer;
  /** Applies a re-read config (SIGHUP) by replacing replicas; returns what it did or why not. */
  reload(next: Config): string;
  /** Stops accepting, lets every admitted request finish, then closes what is left. */
  shutdown(): Promise<void>;
  /** Stops at once: every client connection is closed. */
  destroy(): void;
}

/** The composition root: builds the data plane from a validated config and starts it. */
export async function startDaemon(requested: Config, logger: Logger): Promise<RunningDaemon> {
  // Client connections are bounded below the descriptor limit, raised to its hard limit first.
  const config = fitToDescriptorLimit(requested, raiseDescriptorLimit(logger), logger);
  // Managed replicas can fall back on the release history when the symlink leads nowhere.
  const symlinkRelease =
    config.replicas.kind === 'external'
      ? resolveRelease(config.release.symlink)
      : resolvedTargetOrNull(config.release.symlink);
  let release = symlinkRelease ?? '';
  const listenGid = await preflight(config);
  const replicas = config.replicas;
  const balancer = new Balancer({
    queue: config.limits.queue,
    queueTimeoutMs: config.limits.queueTimeoutMs,
    idleTimeoutMs: replicas.idleTimeoutMs,
    connectTimeoutMs: replicas.connectTimeoutMs,
    probeIntervalMs: PROBE_INTERVAL_MS,
    affinity:
      config.sessions?.affinity === 'session' ? { loadFactor: config.sessions.affinityLoad } : null,
    logger,
  });
  let supervisor: Supervisor | null = null;
  try {
    let managed: Managed | null = null;
    if (replicas.kind === 'external') {
      replicas.addresses.forEach((address, index) => {
        balancer.add({
          id: `replica-${index + 1}`,
          address,
          capacity: replicas.capacity,
          release,
          pinning: makeReleasePinning(config.release.symlink, release),
          responseHeader: releaseHeaderBytes(config.response.releaseHeader, release),
        });
      });
    } else {
      // 0755: the web server must reach listen.fastcgi when it lives here (the default); what
      // else is inside is owner-only (replica sockets, php-fpm configs, the control socket).
      makeDirectory(config.paths.runtime, 0o755, 'paths.runtime');
      makeDirectory(config.paths.state, 0o755, 'paths.state');
      const history = ReleaseHistory.load(config.paths.state, logger);
      const started = await startReplicasOrRecover({
        config,
        logger,
        history,
        symlinkRelease,
        unresolved: () => resolveRelease(config.release.symlink),
        newSupervisor: (on) =>
          new Supervisor({
            settings: supervisorSettings(config, logger),
            balancer,
            symlink: config.release.symlink,
            release: on,
            logger,
          }),
      });
      supervisor = started.supervisor;
      release = started.release;
      const deployer = new Deployer({
        supervisor,
        history,
        symlink: config.release.symlink,
        root: config.release.root,
        timeoutMs: config.deploy.timeoutMs,
        logger,
      });
      managed = { supervisor, deployer, history };
    }
    return await serve(config, logger, release, balancer, managed, listenGid);
  } catch (error) {
    // Whatever cannot start after the replicas (state dir, a front, the control socket) must
    // not leave workers behind.
    await supervisor?.shutdown(0);
    throw error;
  }
}

interface Managed {
  readonly supervisor: Supervisor;
  readonly deployer: Deployer;
  readonly history: ReleaseHistory;
}

/** Starts the fronts, the control socket and the symlink watcher over running replicas. */
async function serve(
  config: Config,
  logger: Logger,
  release: string,
  balancer: Balancer,
  managed: Managed | null,
  listenGid: number | null,
): Promise<RunningDaemon> {
  const { replicas } = config;
  const supervisor = managed?.supervisor ?? null;
  const replicaCount = replicas.kind === 'external' ? replicas.addresses.length : replicas.count;
  // Declared before the fronts start: an outcome can arrive while the second one starts.
  let frontend: FastCgiFrontend | null = null;
  let http: HttpFrontend | null = null;
  const activeRequests = () => (frontend?.activeRequests ?? 0) + (http?.activeRequests ?? 0);
  const idleWaiters: Array<() => void> = [];
  const onOutcome = (exchange: Exchange, outcome: ExchangeOutcome) => {
    if (outcome.kind === 'generated') {
      // The session's keyed hash, never its id: it ties a 429 to its lane's warning.
      const session = exchange.session?.hash;
      logger.warn(
        session === undefined
          ? { code: outcome.error.code }
          : { code: outcome.error.code, session },
        outcome.error.message,
      );
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
  const capacity = replicas.capacity * replicaCount;
  // Fronts → static files → session lanes → admission queue → balancer (see ARCHITECTURE.md).
  const lanes =
    config.sessions === null ? null : new SessionLanes(balancer, { ...config.sessions, logger });
  const serving = () => balancer.servingRelease;
  const dispatcher =
    staticFilesFor(config, lanes ?? balancer, serving, managed?.history ?? null, logger) ??
    lanes ??
    balancer;
  const fastcgi = await FastCgiFrontend.start(config.listen.fastcgi, config.listen.mode, {
    dispatcher,
    logger,
    limits: {
      maxParamsBytes: config.limits.maxParamsBytes,
      retryBodyBytes: config.limits.retryBodyBytes,
      requestTimeoutMs: config.limits.requestTimeoutMs,
      maxAttempts: MAX_ATTEMPTS,
      maxConns: config.limits.maxConnections,
      maxReqs: capacity + config.limits.queue,
      requestsPerConnection: config.limits.requestsPerConnection,
      connectionBufferBytes: config.limits.connectionBufferBytes,
      paramsTimeoutMs: config.limits.paramsTimeoutMs,
      clientIdleTimeoutMs: config.limits.clientIdleTimeoutMs,
    },
    onOutcome,
    // A request aborted before its params were complete has no outcome, only a removal.
    onRequestRemoved: wakeIfIdle,
  });
  frontend = fastcgi;
  if (listenGid !== null && config.listen.fastcgi.kind === 'unix') {
    chownSync(config.listen.fastcgi.path, -1, listenGid);
  }
  const controlHandler = new DaemonControl(config, balancer, managed, lanes);
  const control = await ControlServer.start(config.control, controlHandler, logger);
  // Deploy tools that flip the symlink themselves (ln -sfn, Deployer, Capistrano) are followed.
  const deployer = managed?.deployer;
  // Periodic checks for what an operator's rm -rf takes away; stopped first when the daemon
  // stops, since closing removes socket files itself.
  const watches = watchRemovals({
    config,
    logger,
    managed,
    busy: () => controlHandler.busy,
    fastcgi,
    control,
    listenGid,
  });
  const watcher =
    deployer === undefined
      ? null
      : await SymlinkWatcher.start(
          config.release.symlink,
          (resolved) => deployer.followSymlink(resolved),
          { logger },
        );
  http =
    config.listen.http === null
      ? null
      : await HttpFrontend.start(config.listen.http, {
          dispatcher,
          logger,
          limits: {
            maxConnections: config.limits.maxConnections,
            clientIdleTimeoutMs: config.limits.clientIdleTimeoutMs,
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
      replicas:
        replicas.kind === 'external'
          ? replicas.addresses.map(formatAddress)
          : `${replicas.count} × ${replicas.kind}`,
      capacity,
      sessions:
        config.sessions === null
          ? 'off'
          : `${config.sessions.perSession === 0 ? 'lanes off' : `${config.sessions.perSession} per session`}, affinity ${config.sessions.affinity}`,
      control: config.control.socket,
    },
    'switchyard is serving',
  );

  let current = config;
  let pendingReload: (() => void) | null = null;
  return {
    balancer,
    frontend: fastcgi,
    http,
    supervisor,
    control,
    reload(next: Config): string {
      const refused = reloadRefusal(current, next);
      if (refused !== null) return refused;
      const later = changedKeysNeedingRestart(current, next);
      const apply = () => {
        current = next;
        // Status reports what is in force: the tables read only at start stay as they were.
        controlHandler.setConfig({
          ...next,
          listen: config.listen,
          release: config.release,
          limits: config.limits,
          sessions: config.sessions,
          static: config.static,
          control: config.control,
          paths: config.paths,
        });
        // Sockets and state stay where the daemon started them.
        supervisor?.reconfigure(supervisorSettings({ ...next, paths: config.paths }, logger));
      };
      const note =
        later.length > 0 ? `; ${later.join(', ')} take effect when the daemon restarts` : '';
      if (controlHandler.busy) {
        // Replacing every replica in the middle of a deploy or restart would undo its plan.
        pendingReload = apply;
        waitUntilIdle(
          () => !controlHandler.busy,
          () => {
            if (pendingReload !== apply) return;
            pendingReload = null;
            apply();
            logger.info('the deferred config reload is applied now');
          },
        );
        return `config accepted, applied when the running deploy or restart ends${note}`;
      }
      apply();
      return `config applied: replacing replicas one at a time${note}`;
    },
    async shutdown() {
      for (const stop of watches) stop();
      managed?.deployer.stop();
      fastcgi.shutdown();
      http?.shutdown();
      if (activeRequests() > 0) {
        logger.info({ inFlight: activeRequests() }, 'waiting for in-flight requests');
        await new Promise<void>((resolve) => idleWaiters.push(resolve));
      }
      await watcher?.close();
      await control.close();
      balancer.close();
      fastcgi.destroyAll();
      http?.destroyAll();
      if (supervisor !== null) {
        logger.info('stopping replicas');
        await supervisor.shutdown();
      }
    },
    destroy() {
      for (const stop of watches) stop();
      managed?.deployer.stop();
      fastcgi.stopAccepting();
      fastcgi.destroyAll();
      http?.stopAccepting();
      http?.destroyAll();
      void watcher?.close();
      void control.close();
      balancer.close();
      // Workers get SIGTERM from the kernel too when this process exits (see the launchers).
      if (supervisor !== null) void supervisor.shutdown(0);
    },
  };
}

function supervisorSettings(config: Config, logger: Logger): SupervisorSettings {
  const { replicas } = config;
  if (replicas.kind === 'external') throw new Error('external replicas are not supervised');
  const common = {
    runtimeDir: config.paths.runtime,
    drainTimeoutMs: config.drain.timeoutMs,
    // The socket must appear within the same bound as the first health check.
    startTimeoutMs: config.health.startTimeoutMs,
    logger,
  };
  return {
    count: replicas.count,
    capacity: replicas.capacity,
    surge: replicas.surge,
    surgeMarginBytes: replicas.surgeMarginBytes,
    health: config.health,
    drainTimeoutMs: config.drain.timeoutMs,
    warmup: config.deploy.warmup,
    warmupTimeoutMs: config.deploy.warmupTimeoutMs,
    releaseHeader: config.response.releaseHeader,
    launcher:
      replicas.kind === 'php-fpm'
        ? new PhpFpmLauncher({
            ...common,
            replicas,
            health: config.health,
            releaseSymlink: config.release.symlink,
          })
        : new CommandLauncher({ ...common, replicas }),
  };
}

/** Calls `then` once `idle()` holds, checking every 200 ms. */
function waitUntilIdle(idle: () => boolean, then: () => void): void {
  const timer = setInterval(() => {
    if (!idle()) return;
    clearInterval(timer);
    then();
  }, 200);
  timer.unref();
}

/** A reload that cannot be applied by replacing replicas; null when it can. */
function reloadRefusal(current: Config, next: Config): string | null {
  if (current.replicas.kind !== next.replicas.kind) {
    return `replicas.kind changed from "${current.replicas.kind}" to "${next.replicas.kind}": restart the daemon to apply it`;
  }
  if (next.replicas.kind === 'external') {
    return 'replicas.kind is "external": nothing to restart; other changes need a daemon restart';
  }
  return null;
}

/** Tables read only at start: a reload logs them instead of applying them. */
function changedKeysNeedingRestart(current: Config, next: Config): string[] {
  const keys = [
    'listen',
    'release',
    'limits',
    'sessions',
    'static',
    'control',
    'paths',
    'log',
  ] as const;
  return keys.filter((key) => JSON.stringify(current[key]) !== JSON.stringify(next[key]));
}

/**
 * What must hold before any replica starts, so a failure costs nothing: the groups exist, and
 * no other daemon runs with this config (its replicas' sockets and files would be taken over).
 * Returns the FastCGI socket's gid.
 */
async function preflight(config: Config): Promise<number | null> {
  const listenGid =
    config.listen.group === null
      ? null
      : resolveGroup(config.listen.group, undefined, 'listen.group');
  if (config.control.group !== null) resolveGroup(config.control.group);
  const other = await new ControlClient(config.control.socket).status().then(
    (status) => status,
    () => null,
  );
  if (other !== null) {
    throw new Error(
      `another switchyard daemon (pid ${other.pid}) already runs with control socket ${config.control.socket}: stop it first`,
    );
  }
  return listenGid;
}

/**
 * Creates a directory the config names, before any replica starts: one that cannot be made
 * (read-only file system, a file in the way, no permission) is the config's problem, and is
 * reported as such (exit 78) rather than as a crash later.
 */
function makeDirectory(path: string, mode: number, key: string): void {
  try {
    mkdirSync(path, { recursive: true, mode });
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    throw new ConfigError(key, `cannot create ${path}: ${code ?? message}`);
  }
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

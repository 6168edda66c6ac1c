import { chownSync } from 'node:fs';
import type { Logger } from 'pino';
import { Balancer } from './balancer/balancer.js';
import { balancerOptions } from './balancer-settings.js';
import type { Config, ExternalReplicasConfig } from './config/config-types.js';
import { configInForce } from './config/reload-policy.js';
import { ConfigReloader } from './config-reloader.js';
import { ControlServer } from './control/control-server.js';
import { OperationLock } from './control/operation-lock.js';
import { DaemonControl, type ManagedParts } from './daemon-control.js';
import { logExchangeOutcome } from './exchange-outcome-log.js';
import { fastCgiFrontLimits, httpFrontLimits } from './front-limits.js';
import { FastCgiFrontend } from './frontend/fastcgi-frontend.js';
import { HttpFrontend } from './frontend/http-frontend.js';
import { InFlightRequests } from './in-flight-requests.js';
import { fitToDescriptorLimit, raiseDescriptorLimit } from './net/descriptor-limit.js';
import { makeConfiguredDirectory, preflight, resolveRelease } from './preflight.js';
import { Deployer } from './release/deployer.js';
import { resolvedTargetOrNull } from './release/flip-symlink.js';
import { ReleaseHistory } from './release/release-history.js';
import { SymlinkWatcher } from './release/symlink-watcher.js';
import { watchRemovals } from './removal-watches.js';
import type { Exchange, ExchangeOutcome } from './request/exchange.js';
import { releaseHeaderBytes } from './request/release-header.js';
import { makeReleasePinning } from './request/release-pinning.js';
import { servingSummary } from './serving-summary.js';
import { SessionLanes } from './sessions/session-lanes.js';
import { destroyNow, type RunningParts, shutDown } from './shutdown-sequence.js';
import { startReplicasOrRecover } from './start-replicas.js';
import { staticFilesFor } from './static/static-files.js';
import { Supervisor } from './supervisor/supervisor.js';
import { supervisorSettings } from './supervisor-settings.js';

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
  const { replicas } = config;
  // Managed replicas can fall back on the release history when the symlink leads nowhere.
  const symlinkRelease =
    replicas.kind === 'external'
      ? resolveRelease(config.release.symlink)
      : resolvedTargetOrNull(config.release.symlink);
  const listenGid = await preflight(config);
  const balancer = new Balancer(balancerOptions(config, logger));
  // Deploy, rollback and restart take it; a followed symlink flip holds it.
  const lock = new OperationLock();
  if (replicas.kind === 'external') {
    const release = symlinkRelease ?? '';
    addExternalReplicas(balancer, replicas, config, release);
    return serve({ config, logger, release, balancer, managed: null, lock, listenGid });
  }
  const { managed, release } = await startManaged(config, symlinkRelease, balancer, lock, logger);
  try {
    return await serve({ config, logger, release, balancer, managed, lock, listenGid });
  } catch (error) {
    // Whatever cannot start after the replicas (a front, the control socket) must not leave
    // workers behind.
    await managed.supervisor.shutdown(0);
    throw error;
  }
}

/** Replicas switchyard does not run: one pool each, all on the symlink's release. */
function addExternalReplicas(
  balancer: Balancer,
  replicas: ExternalReplicasConfig,
  config: Config,
  release: string,
): void {
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
}

/**
 * Starts the managed replicas (on the symlink's release, or the last good one) and the
 * deployer over them. Returns them with the release they serve.
 */
async function startManaged(
  config: Config,
  symlinkRelease: string | null,
  balancer: Balancer,
  lock: OperationLock,
  logger: Logger,
): Promise<{ readonly managed: ManagedParts; readonly release: string }> {
  // 0755: the web server must reach listen.fastcgi when it lives here (the default); what
  // else is inside is owner-only (replica sockets, php-fpm configs, the control socket).
  makeConfiguredDirectory(config.paths.runtime, 0o755, 'paths.runtime');
  makeConfiguredDirectory(config.paths.state, 0o755, 'paths.state');
  const history = ReleaseHistory.load(config.paths.state, logger);
  const { supervisor, release } = await startReplicasOrRecover({
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
  const deployer = new Deployer({
    supervisor,
    history,
    symlink: config.release.symlink,
    root: config.release.root,
    timeoutMs: config.deploy.timeoutMs,
    logger,
    lock,
  });
  return { managed: { supervisor, deployer, history }, release };
}

interface ServeOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly release: string;
  readonly balancer: Balancer;
  readonly managed: ManagedParts | null;
  readonly lock: OperationLock;
  /** listen.group's gid, for the FastCGI socket. */
  readonly listenGid: number | null;
}

/** Starts the fronts, the control socket and the symlink watcher over running replicas. */
async function serve(options: ServeOptions): Promise<RunningDaemon> {
  const { config, logger, release, balancer, managed, lock, listenGid } = options;
  const { replicas } = config;
  const supervisor = managed?.supervisor ?? null;
  const replicaCount = replicas.kind === 'external' ? replicas.addresses.length : replicas.count;
  const capacity = replicas.capacity * replicaCount;
  // Before the fronts start: an outcome can arrive while the second one starts.
  const inFlight = new InFlightRequests();
  const onOutcome = (exchange: Exchange, outcome: ExchangeOutcome) => {
    logExchangeOutcome(logger, exchange, outcome);
    inFlight.ended();
  };
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
    limits: fastCgiFrontLimits(config, capacity),
    onOutcome,
    // A request aborted before its params were complete has no outcome, only a removal.
    onRequestRemoved: inFlight.ended,
  });
  inFlight.add(fastcgi);
  if (listenGid !== null && config.listen.fastcgi.kind === 'unix') {
    chownSync(config.listen.fastcgi.path, -1, listenGid);
  }
  const controlHandler = new DaemonControl({ config, balancer, managed, lanes, lock });
  const control = await ControlServer.start(config.control, controlHandler, logger);
  // Periodic checks for what an operator's rm -rf takes away.
  const watches = watchRemovals({
    config,
    logger,
    managed,
    busy: () => lock.busy,
    fastcgi,
    control,
    listenGid,
  });
  // Deploy tools that flip the symlink themselves (ln -sfn, Deployer, Capistrano) are followed.
  const deployer = managed?.deployer ?? null;
  const watcher =
    deployer === null
      ? null
      : await SymlinkWatcher.start(
          config.release.symlink,
          (resolved) => deployer.followSymlink(resolved),
          { logger },
        );
  const http =
    config.listen.http === null
      ? null
      : await HttpFrontend.start(config.listen.http, {
          dispatcher,
          logger,
          limits: httpFrontLimits(config),
          site: { documentRoot: config.release.symlink, index: 'index.php' },
          onOutcome,
        });
  if (http !== null) inFlight.add(http);
  logger.info(
    servingSummary(config, release, http?.port ?? null, capacity),
    'switchyard is serving',
  );

  const reloader = new ConfigReloader({
    config,
    lock,
    logger,
    apply: (next) => {
      controlHandler.setConfig(configInForce(config, next));
      // Sockets and state stay where the daemon started them.
      supervisor?.reconfigure(supervisorSettings({ ...next, paths: config.paths }, logger));
    },
  });
  const parts: RunningParts = {
    watches,
    deployer,
    fronts: http === null ? [fastcgi] : [fastcgi, http],
    inFlight,
    watcher,
    control,
    balancer,
    supervisor,
  };
  return {
    balancer,
    frontend: fastcgi,
    http,
    supervisor,
    control,
    reload: (next) => reloader.reload(next),
    shutdown: () => shutDown(parts, logger),
    destroy: () => destroyNow(parts),
  };
}
